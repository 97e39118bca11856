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


def test_21st_message_shows_its_10_point_cost_first_charges_it_and_without_points_errors_and_keeps_text(
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

    # The 21st message: its price is on screen before it is sent, and it is charged.
    expect(page.locator("#cost-notice")).to_contain_text(f"{PRICE} points")
    ui.send(page, "the twenty-first")
    expect(ui.message_with_text(page, "the twenty-first")).to_have_count(1)
    expect(page.locator("#quota [data-testid=points-balance]")).to_have_text(re.compile(r"\b5\b"))
    assert live_server.quota(alice)["pointsBalance"] == 5
    expect(page.locator("#composer-error")).not_to_be_visible()

    # The 22nd, with 5 points: an error that names points, the text stays, nothing is charged.
    shown = ui.messages(page).count()
    expect(page.locator("#cost-notice")).to_contain_text(f"{PRICE} points")
    ui.send(page, "the twenty-second")
    error = page.locator("#composer-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(re.compile("points", re.IGNORECASE))
    expect(error).to_have_attribute("role", "alert")
    expect(page.locator("textarea#message-input")).to_have_value("the twenty-second")
    expect(ui.message_with_text(page, "the twenty-second")).to_have_count(0)
    assert ui.messages(page).count() == shown
    expect(page.locator("#quota [data-testid=points-balance]")).to_have_text(re.compile(r"\b5\b"))
    assert live_server.quota(alice)["pointsBalance"] == 5
    assert len(live_server.all_messages(alice, conversation_id)) == FREE_PER_DAY + 1


def test_a_price_change_between_showing_and_sending_is_refused_and_the_text_stays_until_resent(
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
    error = page.locator("#composer-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(f"{PRICE} points")
    expect(page.locator("textarea#message-input")).to_have_value("shown as free")
    expect(page.locator("#cost-notice")).to_contain_text(f"{PRICE} points")
    assert live_server.quota(alice)["pointsBalance"] == PRICE
    assert "shown as free" not in [m["content"] for m in live_server.all_messages(alice, conversation_id)]

    # Sending again, with the new price on screen, pays it.
    page.locator("textarea#message-input").press("Enter")
    expect(ui.message_with_text(page, "shown as free")).to_have_count(1)
    expect(error).to_be_hidden()
    expect(page.locator("#quota [data-testid=points-balance]")).to_have_text(re.compile(r"\b0\b"))
    assert live_server.quota(alice)["pointsBalance"] == 0
