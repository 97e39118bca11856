"""axe-core (from npm, package-lock.json) finds no violation on any page, light and dark, desktop and
phone: login, register, the list, a chat with messages both ways, the question before the first paid
message, a message still sending and a refused one, profile, search with results; and in the states
that come and go: forms showing field errors, a row's open menu, the archived list, the buttons to
the first unread message and to new messages."""

from typing import Any

import pytest
from playwright.sync_api import expect
from support.axe import assert_no_violations
from support.rest import Account
from support.servers import LiveServer
from support.settings import PASSWORD

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
FREE_PER_DAY = 20  # support.settings: DAILY_FREE_MESSAGES


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_axe_finds_no_violation_on_any_page(
    live_server: LiveServer,
    windows: Windows,
    ui: Ui,
    pair: tuple[Account, Account, str],
    scheme: str,
    width: str,
) -> None:
    alice, bob, conversation_id = pair
    for number in range(1, FREE_PER_DAY):  # today's free messages but one: the next paid one asks first
        live_server.sent(alice, conversation_id, f"earlier {number}")
    live_server.sent(bob, conversation_id, "Hello Alice, see https://example.com/page for the plan")
    live_server.sent(alice, conversation_id, "Thanks, reading it now", expirationHours=24)
    live_server.sent(bob, conversation_id, "Great")
    page = windows.open(viewport=PHONE if width == "phone" else DESKTOP, color_scheme=scheme)
    tag = f"{scheme}, {width}"

    page.goto("/login")
    assert_no_violations(page, f"login ({tag})")
    page.goto("/register")
    assert_no_violations(page, f"register ({tag})")

    ui.login(page, alice)
    ui.connected(page)
    expect(ui.conversation_item(page, conversation_id)).to_be_visible()
    assert_no_violations(page, f"the list ({tag})")

    ui.open_chat(page, conversation_id)
    expect(ui.message_with_text(page, "Great")).to_be_visible()
    expect(ui.message_with_text(page, "Thanks, reading it now").locator(".message-status")).to_be_visible()
    assert_no_violations(page, f"a chat ({tag})")

    # The free messages are used up: the first paid one asks before it goes.
    expect(page.locator("#cost-notice")).to_contain_text("10 points")
    ui.send(page, "refused for want of points")
    confirm = page.locator("#cost-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("From now on each message costs 10 points")
    assert_no_violations(page, f"a chat asking before the first paid message ({tag})")

    # Agreed to, it shows at once as "sending" (its request held here), then, with no points,
    # stays refused in place with its reason and actions.
    held: list[Any] = []
    page.route("**/api/messages/send", lambda route: held.append(route))
    confirm.get_by_role("button", name="Send for 10 points").click()
    bubble = ui.message_with_text(page, "refused for want of points")
    expect(bubble).to_have_attribute("data-state", "pending")
    expect(bubble.locator(".message-status")).to_have_text("sending")
    assert_no_violations(page, f"a chat with a message sending ({tag})")
    for _ in range(50):  # the route's handler runs while Playwright waits
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1, "the send was not held"
    held[0].continue_()
    expect(bubble).to_have_attribute("data-state", "failed")
    expect(bubble.locator(".outbox-reason")).to_contain_text("points")
    assert_no_violations(page, f"a chat with a refused message ({tag})")

    page.goto("/profile")
    expect(page.locator("#profile-avatar .avatar")).to_be_visible()
    assert_no_violations(page, f"profile ({tag})")

    page.goto("/search?q=plan")
    expect(page.locator("#message-results li").first).to_be_visible()
    assert_no_violations(page, f"search ({tag})")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_axe_finds_no_violation_in_the_states_that_come_and_go(
    live_server: LiveServer,
    windows: Windows,
    ui: Ui,
    pair: tuple[Account, Account, str],
    scheme: str,
    width: str,
) -> None:
    alice, bob, with_bob = pair
    carol = live_server.account("carol", display_name="Carol")
    with_carol = live_server.conversation(carol, alice)
    live_server.sent(carol, with_carol, "an archived hello")
    live_server.update_conversation(alice, with_carol, archived=True)
    live_server.sent(alice, with_bob, "read by bob")
    for number in range(1, 17):  # more than a screen of unread messages (within Bob's free ones)
        live_server.sent(bob, with_bob, f"unread {number}\nsecond line\nthird line\nfourth line")
    page = windows.open(viewport=PHONE if width == "phone" else DESKTOP, color_scheme=scheme)
    tag = f"{scheme}, {width}"

    # Forms whose fields say what is wrong, next to themselves.
    page.goto("/register")
    page.locator("#username").fill("no spaces!")
    page.locator("#password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#username-error")).to_be_visible()
    expect(page.locator("#password-error")).to_be_visible()
    assert_no_violations(page, f"register with field errors ({tag})")
    page.locator("#username").fill(alice.username)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#username-error")).to_have_text("That username is taken.")
    assert_no_violations(page, f"register with a taken username ({tag})")
    page.goto("/login")
    page.locator("#username").fill(alice.username)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#password-error")).to_be_visible()
    assert_no_violations(page, f"login with a field error ({tag})")

    # The list with the Archived entry and a row's menu open; then the archived list.
    ui.login(page, alice)
    ui.connected(page)
    expect(page.locator("#archived-open")).to_contain_text("Archived (1)")
    row = ui.conversation_item(page, with_bob)
    row.locator("button.row-menu-button").click()
    expect(row.locator(".row-menu")).to_be_visible()
    assert_no_violations(page, f"the list with a row menu open ({tag})")
    page.keyboard.press("Escape")
    page.locator("#archived-open").click()
    expect(page.locator("#archived-header")).to_be_visible()
    expect(ui.conversation_item(page, with_carol)).to_be_visible()
    assert_no_violations(page, f"the archived list ({tag})")

    # A chat opened below its first unread message, then scrolled up while new ones arrive.
    ui.open_chat(page, with_bob)
    jump = page.locator("#jump-unread")
    expect(jump).to_be_visible()
    assert_no_violations(page, f"a chat with the jump to the first unread ({tag})")
    page.locator("#message-scroller").evaluate("element => { element.scrollTop = 0; }")
    expect(jump).to_be_hidden()
    live_server.sent(bob, with_bob, "new while scrolled up")
    expect(page.locator("#new-messages")).to_be_visible()
    assert_no_violations(page, f"a chat with the new messages button ({tag})")

    # The profile's forms saying what is wrong.
    page.goto("/profile")
    page.locator("#display-name").fill("   ")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#display-name-error")).to_be_visible()
    page.locator("#current-password").fill("not my password")
    page.locator("#new-password").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#new-password-error")).to_be_visible()
    assert_no_violations(page, f"profile with field errors ({tag})")
