"""Dates in a chat: a message's full date and time on tap (touch) or click and hover (desktop); when
a disappearing message goes ("today at", "tomorrow at") and when the free quota resets, in the
same words, still right after midnight (the browser's clock is Playwright's)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from support.axe import assert_no_violations
from support.rest import Account
from support.servers import LiveServer

from app.models import Message

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PHONE = {"width": 390, "height": 844}


def backdate(server: LiveServer, message_id: str, when: datetime) -> None:
    """Move a stored message's createdAt (the server's clock cannot be moved for one message)."""
    with server.engine.begin() as connection:
        connection.execute(
            sa.update(Message).where(Message.id == uuid.UUID(message_id)).values(created_at=when)
        )


def parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def full(when: datetime) -> str:
    """The page's full date and time in en-US: "Saturday, November 29, 2026 at 2:03 PM"."""
    return f"{when:%A, %B %-d, %Y} at {when:%-I:%M %p}"


def clock(when: datetime) -> str:
    """The page's hour and minute in en-US: "02:03 PM"."""
    return f"{when:%I:%M %p}"


def midnight(when: datetime) -> datetime:
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def test_tapping_a_messages_time_on_a_touch_phone_shows_its_full_date_and_time(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, bob, conversation_id = pair
    older = datetime.now(UTC) - timedelta(days=3)
    backdate(live_server, live_server.sent(bob, conversation_id, "three days ago")["message"]["id"], older)
    live_server.sent(bob, conversation_id, "just now")
    page = windows.open(viewport=PHONE, has_touch=True, is_mobile=True, timezone_id="UTC")
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    box = page.locator("textarea#message-input")
    box.tap()
    expect(box).to_be_focused()

    bubble = ui.message_with_text(page, "three days ago")
    time = bubble.get_by_role("button", name=clock(older))
    line = bubble.locator(".message-full-time")
    expect(line).to_be_hidden()
    time.tap()
    expect(line).to_be_visible()
    expect(line).to_have_text(full(older))
    expect(time).to_have_attribute("aria-expanded", "true")
    expect(box).to_be_focused()  # the keyboard stays up: the tap took no focus

    # One at a time: another time's tap shows its own and hides the first; a second tap hides it.
    other = ui.message_with_text(page, "just now")
    other.locator(".message-time").tap()
    expect(other.locator(".message-full-time")).to_be_visible()
    expect(line).to_be_hidden()
    other.locator(".message-time").tap()
    expect(other.locator(".message-full-time")).to_be_hidden()
    expect(other.locator(".message-time")).to_have_attribute("aria-expanded", "false")


def test_on_a_desktop_the_time_has_the_full_date_on_hover_and_click_and_escape_hides_it(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, bob, conversation_id = pair
    older = datetime.now(UTC) - timedelta(days=3)
    backdate(live_server, live_server.sent(bob, conversation_id, "three days ago")["message"]["id"], older)
    page = windows.open(timezone_id="UTC")
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    bubble = ui.message_with_text(page, "three days ago")
    time = bubble.locator(".message-time")
    time.hover()
    expect(bubble.locator("time")).to_have_attribute("title", full(older))
    expect(bubble.locator(".message-full-time")).to_be_hidden()

    # A click while typing: the full date shows, and Enter still sends from the box.
    box = page.locator("textarea#message-input")
    box.fill("typed before the click")
    time.click()
    expect(bubble.locator(".message-full-time")).to_have_text(full(older))
    expect(box).to_be_focused()
    box.press("Enter")
    expect(ui.message_with_text(page, "typed before the click")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(bubble.locator(".message-full-time")).to_be_hidden()

    # By keyboard: Enter on the focused time shows it, Escape hides it, the focus stays.
    time.focus()
    page.keyboard.press("Enter")
    expect(bubble.locator(".message-full-time")).to_be_visible()
    page.keyboard.press("Escape")
    expect(bubble.locator(".message-full-time")).to_be_hidden()
    expect(time).to_be_focused()

    # Open on one's own message, it stays open when a read receipt redraws the bubble.
    mine = ui.message_with_text(page, "typed before the click")
    mine.locator(".message-time").click()
    expect(mine.locator(".message-full-time")).to_be_visible()
    assert live_server.read(bob, conversation_id).status_code == 200
    expect(mine.locator(".message-status")).to_have_text("read")
    expect(mine.locator(".message-full-time")).to_be_visible()


def test_the_message_times_are_one_tab_stop_and_the_arrow_keys_move_between_them(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, bob, conversation_id = pair
    texts = [f"message {number}" for number in range(1, 7)]
    for text in texts:
        live_server.sent(bob, conversation_id, text)
    page = windows.open(timezone_id="UTC")
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    times = ui.messages(page).locator(".message-time")
    expect(times).to_have_count(len(texts))
    stops = ui.messages(page).locator('.message-time[tabindex="0"]')

    def time_of(text: str) -> Any:
        return ui.message_with_text(page, text).locator(".message-time")

    # One stop, the newest message's: Tab from the last control before the list lands there.
    expect(stops).to_have_count(1)
    expect(time_of("message 6")).to_have_attribute("tabindex", "0")
    time_of("message 6").focus()
    for key, text in (
        ("ArrowUp", "message 5"),
        ("ArrowUp", "message 4"),
        ("Home", "message 1"),
        ("ArrowUp", "message 1"),
        ("ArrowDown", "message 2"),
        ("End", "message 6"),
    ):
        page.keyboard.press(key)
        expect(time_of(text)).to_be_focused()
        expect(stops).to_have_count(1)  # the stop follows the focus
        expect(time_of(text)).to_have_attribute("tabindex", "0")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")  # a time is a button: its full date shows
    expect(ui.message_with_text(page, "message 5").locator(".message-full-time")).to_be_visible()

    # A message arriving keeps the stop where the reader left it.
    live_server.sent(bob, conversation_id, "message 7")
    expect(times).to_have_count(len(texts) + 1)
    expect(stops).to_have_count(1)
    expect(time_of("message 5")).to_have_attribute("tabindex", "0")


def test_a_one_hour_message_disappears_today_at_its_time(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, _bob, conversation_id = pair
    sent = live_server.sent(alice, conversation_id, "gone in an hour", expirationHours=1)["message"]
    expires = parse(sent["expiresAt"])
    page = windows.open(timezone_id="UTC")
    # The browser's day is the day it goes (even when sent just before midnight).
    page.clock.install(time=max(expires - timedelta(hours=1), midnight(expires)))
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    note = ui.message_with_text(page, "gone in an hour").locator(".message-expiry")
    expect(note).to_have_text(f"Disappears today at {clock(expires)}")


def test_tomorrow_at_becomes_today_at_after_midnight_and_today_yesterday(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, _bob, conversation_id = pair
    sent = live_server.sent(alice, conversation_id, "gone in a day", expirationHours=24)["message"]
    expires = parse(sent["expiresAt"])
    page: Page = windows.open(timezone_id="UTC")
    page.clock.install(time=midnight(expires) - timedelta(minutes=1))  # 23:59 the day it was sent
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    note = ui.message_with_text(page, "gone in a day").locator(".message-expiry")
    separator = page.locator("ol#messages li.day-separator")
    resets = page.locator("#quota .quota-resets")
    expect(note).to_have_text(f"Disappears tomorrow at {clock(expires)}")
    expect(separator).to_have_text(["Today"])
    expect(resets).to_have_text("Resets tomorrow at 12:00 AM")  # QUOTA_TIMEZONE=UTC

    quota_requests: list[str] = []
    page.on("request", lambda r: quota_requests.append(r.url) if "/api/messages/quota" in r.url else None)
    page.clock.fast_forward("01:01")  # past midnight, no reload
    expect(note).to_have_text(f"Disappears today at {clock(expires)}")
    expect(separator).to_have_text(["Yesterday"])
    # The browser's new quota day is not the server's yet: it asks again, but not in a loop.
    page.wait_for_timeout(2000)
    assert len(quota_requests) <= 3, f"{len(quota_requests)} quota requests in 2 s"


def test_the_quota_resets_tomorrow_at_its_time_and_today_after_local_midnight(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, _bob, _conversation_id = pair
    resets_at = parse(live_server.quota(alice)["resetsAt"])  # midnight UTC: 7:00 PM in Bogotá
    page = windows.open(timezone_id="America/Bogota")  # UTC-5, no summer time
    local_midnight = resets_at - timedelta(hours=19)
    page.clock.install(time=local_midnight - timedelta(seconds=15))
    ui.login(page, alice)
    ui.connected(page)
    resets = page.locator("#quota .quota-resets")
    expect(resets).to_have_text("Resets tomorrow at 07:00 PM")
    expect(resets.locator("[data-testid=quota-resets]")).to_have_attribute(
        "title", full(resets_at - timedelta(hours=5))
    )
    # Just past midnight, in a jump too short for the socket to time out and reconnect (which
    # would reload the quota): the page itself notices the new day.
    left = local_midnight.timestamp() * 1000 - page.evaluate("Date.now()")
    page.clock.fast_forward(int(left) + 1000)
    expect(resets).to_have_text("Resets today at 07:00 PM")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violation_with_a_full_date_shown_in_either_bubble(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str], scheme: str
) -> None:
    alice, bob, conversation_id = pair
    live_server.sent(bob, conversation_id, "theirs")
    live_server.sent(alice, conversation_id, "mine", expirationHours=24)
    page = windows.open(color_scheme=scheme)
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    for text in ("theirs", "mine"):
        bubble = ui.message_with_text(page, text)
        bubble.locator(".message-time").click()
        expect(bubble.locator(".message-full-time")).to_be_visible()
        assert_no_violations(page, f"a chat with the full date of {text!r} shown ({scheme})")
