"""The daily free quota and points, as the composer and the quota display show them."""

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

FREE_PER_DAY = 20
PRICE = 10


def test_21st_message_shows_its_10_point_cost_first_charges_it_and_without_points_stays_refused_in_place(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    expect(page.locator("#cost-notice")).to_contain_text("free")
    expect(page.locator("#quota [data-testid=free-remaining]")).to_have_text(
        re.compile(rf"\b{FREE_PER_DAY}\b")
    )

    # Today's 20 free messages go out over REST (fast), then 15 points arrive.
    for number in range(1, FREE_PER_DAY + 1):
        live_server.sent(alice, conversation_id, f"free message {number}")
    live_server.grant(alice, PRICE + 5)
    page.reload()
    ui.connected(page)
    expect(ui.messages(page).last.locator(".message-text")).to_have_text(f"free message {FREE_PER_DAY}")
    expect(page.locator("#quota [data-testid=free-remaining]")).to_have_text(re.compile(r"\b0\b"))
    expect(page.locator("#quota [data-testid=points-balance]")).to_have_text(re.compile(rf"\b{PRICE + 5}\b"))
    expect(page.locator("#quota [data-testid=quota-resets]")).not_to_be_empty()

    # The 21st message: its price is on screen before it is sent; as the first paid message of
    # the day it asks once, keeping the text until agreed; then it is charged.
    expect(page.locator("#cost-notice")).to_contain_text(f"{PRICE} points")
    ui.send(page, "the twenty-first")
    confirm = page.locator("#cost-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text(f"From now on each message costs {PRICE} points")
    expect(page.locator("textarea#message-input")).to_have_value("the twenty-first")
    expect(ui.message_with_text(page, "the twenty-first")).to_have_count(0)
    assert len(live_server.all_messages(alice, conversation_id)) == FREE_PER_DAY
    confirm.get_by_role("button", name=f"Send for {PRICE} points").click()
    expect(confirm).to_be_hidden()
    expect(ui.message_with_text(page, "the twenty-first")).to_have_count(1)
    expect(page.locator("#quota [data-testid=points-balance]")).to_have_text(re.compile(r"\b5\b"))
    assert live_server.quota(alice)["pointsBalance"] == 5
    expect(page.locator("#composer-error")).not_to_be_visible()

    # Asked once a day: after a reload the next paid message goes without asking.
    page.reload()
    ui.connected(page)
    expect(ui.message_with_text(page, "the twenty-first")).to_have_count(1)

    # The 22nd, with 5 points: refused, it stays in place with a reason that names points and
    # its actions; the box is free; nothing is charged.
    shown = ui.messages(page).count()
    expect(page.locator("#cost-notice")).to_contain_text(f"{PRICE} points")
    ui.send(page, "the twenty-second")
    expect(confirm).to_be_hidden()
    bubble = ui.message_with_text(page, "the twenty-second")
    expect(bubble).to_have_attribute("data-state", "failed")
    reason = bubble.locator(".outbox-reason")
    expect(reason).to_contain_text(re.compile("points", re.IGNORECASE))
    expect(reason).to_have_attribute("role", "alert")
    for action in (f"Send for {PRICE} points", "Edit", "Discard"):
        expect(bubble.get_by_role("button", name=action)).to_be_visible()
    expect(page.locator("textarea#message-input")).to_have_value("")
    assert ui.messages(page).count() == shown + 1
    expect(page.locator("#quota [data-testid=points-balance]")).to_have_text(re.compile(r"\b5\b"))
    assert live_server.quota(alice)["pointsBalance"] == 5
    assert len(live_server.all_messages(alice, conversation_id)) == FREE_PER_DAY + 1

    # Edit takes it back into the box; nothing was sent.
    bubble.get_by_role("button", name="Edit").click()
    expect(page.locator("textarea#message-input")).to_have_value("the twenty-second")
    expect(bubble).to_have_count(0)
    assert ui.messages(page).count() == shown


def test_a_price_change_between_showing_and_sending_is_refused_in_place_until_the_new_price_is_agreed(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    for number in range(1, FREE_PER_DAY):
        live_server.sent(alice, conversation_id, f"free message {number}")
    live_server.grant(alice, PRICE)
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    expect(page.locator("#cost-notice")).to_contain_text("free")

    # Another tab spends the last free message while this one's send is on its way. (The route
    # stays: removing the last route while the request is held releases it early.)
    held: list[str] = []

    def other_tab_first(route: Any) -> None:
        if not held:
            held.append(route.request.url)
            live_server.sent(alice, conversation_id, "from the other tab")
        route.continue_()

    page.route("**/api/messages/send", other_tab_first)
    ui.send(page, "shown as free")
    bubble = ui.message_with_text(page, "shown as free")
    expect(bubble).to_have_attribute("data-state", "failed")
    expect(bubble.locator(".outbox-reason")).to_contain_text(f"{PRICE} points")
    expect(page.locator("textarea#message-input")).to_have_value("")
    expect(page.locator("#cost-notice")).to_contain_text(f"{PRICE} points")
    assert live_server.quota(alice)["pointsBalance"] == PRICE
    assert "shown as free" not in [m["content"] for m in live_server.all_messages(alice, conversation_id)]

    # Agreeing to the new price sends it, once, and pays it.
    bubble.get_by_role("button", name=f"Send for {PRICE} points").click()
    expect(bubble).not_to_have_class(re.compile(r"\bpending\b"))
    expect(ui.message_with_text(page, "shown as free")).to_have_count(1)
    expect(page.locator("#quota [data-testid=points-balance]")).to_have_text(re.compile(r"\b0\b"))
    assert live_server.quota(alice)["pointsBalance"] == 0


# The page's document.visibilityState, switched by the test (a hidden tab cannot be made otherwise).
VISIBILITY_SWITCH = """
window.testHidden = false;
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true,
  get() { return window.testHidden ? "hidden" : "visible"; },
});
"""
SET_HIDDEN = (
    "(hidden) => { window.testHidden = hidden; document.dispatchEvent(new Event('visibilitychange')); }"
)


def test_points_granted_from_the_command_line_show_when_the_tab_is_looked_at_again(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open()
    page.add_init_script(VISIBILITY_SWITCH)
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    balance = page.locator("#quota [data-testid=points-balance]")
    expect(balance).to_have_text(re.compile(r"\b0\b"))

    page.evaluate(SET_HIDDEN, True)  # the person looks at another tab
    live_server.grant(alice, 25)  # `flask points grant`
    page.wait_for_timeout(1100)
    page.evaluate(SET_HIDDEN, False)  # and comes back: no reload
    expect(balance).to_have_text(re.compile(r"\b25\b"))


def spend_the_free_messages(server: LiveServer, who: Any, conversation_id: str) -> None:
    """Today's free messages, sent over REST (fast): the next one costs PRICE points."""
    for number in range(1, FREE_PER_DAY + 1):
        server.sent(who, conversation_id, f"free message {number}")


def test_escape_on_the_cost_question_keeps_the_text_and_puts_the_focus_back_in_the_box(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    spend_the_free_messages(live_server, alice, conversation_id)
    live_server.grant(alice, PRICE)
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    expect(page.locator("#cost-notice")).to_contain_text(f"{PRICE} points")

    box = page.locator("textarea#message-input")
    ui.send(page, "think twice")
    confirm = page.locator("#cost-confirm")
    expect(confirm).to_contain_text(f"From now on each message costs {PRICE} points")
    yes = confirm.get_by_role("button", name=f"Send for {PRICE} points")
    expect(yes).to_be_focused()
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(box).to_be_focused()
    expect(box).to_have_value("think twice")
    expect(ui.message_with_text(page, "think twice")).to_have_count(0)

    # Nothing went out, and the question is asked again next time (nothing was agreed).
    page.wait_for_timeout(500)
    assert len(live_server.all_messages(alice, conversation_id)) == FREE_PER_DAY
    assert live_server.quota(alice)["pointsBalance"] == PRICE
    box.press("Enter")
    expect(confirm).to_be_visible()
    expect(yes).to_be_focused()


def test_discarding_a_refused_message_stores_nothing_refocuses_the_box_and_lets_the_next_one_go(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    spend_the_free_messages(live_server, alice, conversation_id)
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    expect(page.locator("#cost-notice")).to_contain_text(f"{PRICE} points")

    # With no points the 21st is refused (402) once agreed to: it stays with its reason and actions.
    ui.send(page, "refused for want of points")
    page.locator("#cost-confirm").get_by_role("button", name=f"Send for {PRICE} points").click()
    refused = ui.message_with_text(page, "refused for want of points")
    expect(refused).to_have_attribute("data-state", "failed")
    expect(refused.locator(".outbox-reason")).to_contain_text(re.compile("points", re.IGNORECASE))
    for action in (f"Send for {PRICE} points", "Edit", "Discard"):
        expect(refused.get_by_role("button", name=action)).to_be_visible()

    # A reload keeps it where it was, with its reason (the outbox is in localStorage).
    page.reload()
    ui.connected(page)
    refused = ui.message_with_text(page, "refused for want of points")
    expect(refused).to_have_attribute("data-state", "failed")
    expect(refused.locator(".outbox-reason")).to_contain_text(f"costs {PRICE} points and you have 0")
    expect(refused.get_by_role("button", name="Discard")).to_be_visible()
    stored = live_server.all_messages(alice, conversation_id)
    assert len(stored) == FREE_PER_DAY

    # Points arrive; the next message of this chat waits behind the refused one, in order.
    live_server.grant(alice, PRICE)
    ui.send(page, "queued behind it")
    queued = ui.message_with_text(page, "queued behind it")
    expect(queued).to_have_attribute("data-state", "pending")
    page.wait_for_timeout(800)
    expect(queued).to_have_attribute("data-state", "pending")
    assert len(live_server.all_messages(alice, conversation_id)) == FREE_PER_DAY

    # Discard: the bubble goes, nothing is stored or charged for it, the focus is back in the box,
    # and what waited behind it goes out.
    refused.get_by_role("button", name="Discard").click()
    expect(refused).to_have_count(0)
    expect(page.locator("textarea#message-input")).to_be_focused()
    sent = ui.message_with_text(page, "queued behind it")
    expect(sent).to_have_count(1)
    expect(sent).to_have_attribute("data-message-id", re.compile(r".+"))
    expect(sent).not_to_have_class(re.compile(r"\bpending\b"))
    contents = [m["content"] for m in live_server.all_messages(alice, conversation_id)]
    assert contents.count("queued behind it") == 1
    assert "refused for want of points" not in contents
    assert len(contents) == FREE_PER_DAY + 1
    assert live_server.quota(alice)["pointsBalance"] == 0  # the queued one paid; the discarded one nothing
    assert page.evaluate(f"() => localStorage.getItem('outbox:{alice.id}')") is None

    # Gone for good: a reload does not bring it back.
    page.reload()
    ui.connected(page)
    expect(ui.message_with_text(page, "queued behind it")).to_have_count(1)
    expect(ui.message_with_text(page, "refused for want of points")).to_have_count(0)
