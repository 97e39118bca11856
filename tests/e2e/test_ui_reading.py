"""Reading a chat: day separators, groups, the full time on hover, links built as DOM nodes, the
unread divider and its jump, "new messages (n)" while scrolled up, read only when seen, and when a
disappearing message goes."""

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from support.rest import Account
from support.servers import LiveServer

from app.models import Message

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

# The page's document.visibilityState, switched by the test (a hidden tab cannot be made otherwise).
VISIBILITY_SWITCH = """
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true,
  get() { return window.testHidden ? "hidden" : "visible"; },
});
"""
SHOW_TAB = "() => { window.testHidden = false; document.dispatchEvent(new Event('visibilitychange')); }"


def backdate(server: LiveServer, message_id: str, when: datetime) -> None:
    """Move a stored message's createdAt (the server's clock cannot be moved for one message)."""
    with server.engine.begin() as connection:
        connection.execute(
            sa.update(Message).where(Message.id == uuid.UUID(message_id)).values(created_at=when)
        )


def read_flags(server: LiveServer, who: Account, conversation_id: str) -> dict[str, bool]:
    return {m["content"]: m["isRead"] for m in server.all_messages(who, conversation_id)}


def _wait(condition: Any, seconds: float = 10.0) -> bool:
    """Whether `condition()` became true within `seconds` (polled)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_days_are_separated_one_senders_messages_grouped_and_the_full_time_is_on_hover(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, bob, conversation_id = pair
    now = datetime.now(UTC)
    older = now - timedelta(days=3)
    for text, when in (("three days ago", older), ("yesterday", now - timedelta(days=1))):
        backdate(live_server, live_server.sent(bob, conversation_id, text)["message"]["id"], when)
    live_server.sent(bob, conversation_id, "today one")
    live_server.sent(bob, conversation_id, "today two")
    live_server.sent(alice, conversation_id, "my answer")

    page = windows.open(timezone_id="UTC")
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    separators = page.locator("ol#messages li.day-separator")
    expect(separators).to_have_text([older.strftime("%A, %B %-d"), "Yesterday", "Today"])
    expect(page.locator("ol#messages li.unread-divider")).to_have_count(1)

    expect(ui.message_with_text(page, "today two")).to_have_class(re.compile(r"\bgrouped\b"))
    for text in ("today one", "my answer", "yesterday"):
        expect(ui.message_with_text(page, text)).not_to_have_class(re.compile(r"\bgrouped\b"))
    title = ui.message_with_text(page, "three days ago").locator("time").get_attribute("title") or ""
    assert older.strftime("%A") in title and str(older.year) in title, title


def test_http_links_are_links_opening_a_new_tab_and_nothing_else_is(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, bob, conversation_id = pair
    text = (
        "see https://example.com/a?b=1, then (http://example.org/x_(y)). "
        "Not javascript:alert(1) nor <a href=javascript:alert(2)>click</a> <b>bold</b> ftp://example.net"
    )
    live_server.sent(bob, conversation_id, text)
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    bubble = ui.message_with_text(page, text)  # the whole text, as typed
    links = bubble.locator("a")
    expect(links).to_have_count(2)
    expect(links).to_have_text(["https://example.com/a?b=1", "http://example.org/x_(y)"])
    assert links.evaluate_all("els => els.map(a => a.href)") == [
        "https://example.com/a?b=1",
        "http://example.org/x_(y)",
    ]
    for index in range(2):
        expect(links.nth(index)).to_have_attribute("target", "_blank")
        expect(links.nth(index)).to_have_attribute("rel", "noopener noreferrer")
    expect(bubble.locator("b")).to_have_count(0)


def test_unread_divider_jump_new_messages_button_and_read_only_when_seen_in_a_visible_tab(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, bob, conversation_id = pair
    live_server.sent(alice, conversation_id, "already read by bob")
    texts = [f"unread {n}" for n in range(1, 19)]
    for text in texts:
        live_server.sent(bob, conversation_id, text)

    page = windows.open(viewport={"width": 1000, "height": 600})
    page.add_init_script("window.testHidden = true;" + VISIBILITY_SWITCH)
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    expect(ui.message_with_text(page, texts[-1])).to_be_in_viewport()
    # A hidden tab reads nothing, whatever is on screen.
    page.wait_for_timeout(800)
    assert not any(read_flags(live_server, bob, conversation_id)[t] for t in texts)

    page.evaluate(SHOW_TAB)
    assert _wait(lambda: read_flags(live_server, bob, conversation_id)[texts[-1]]), "seen but not read"
    assert not read_flags(live_server, bob, conversation_id)["unread 1"], "read while far off screen"

    # The divider is above: a button jumps to it, and what comes on screen is read.
    jump = page.locator("#jump-unread")
    expect(jump).to_be_visible()
    jump.click()
    expect(page.locator("ol#messages li.unread-divider")).to_be_in_viewport()
    expect(ui.message_with_text(page, "unread 1")).to_be_in_viewport()
    assert _wait(lambda: read_flags(live_server, bob, conversation_id)["unread 1"])
    expect(jump).to_be_hidden()

    # Scrolled up, new messages do not move the view: a button counts them.
    scroller = page.locator("#message-scroller")
    top = scroller.evaluate("el => el.scrollTop")
    live_server.sent(bob, conversation_id, "new while up 1")
    live_server.sent(bob, conversation_id, "new while up 2")
    button = page.locator("#new-messages")
    expect(button).to_be_visible()
    expect(button).to_contain_text("New messages (2)")
    assert abs(scroller.evaluate("el => el.scrollTop") - top) < 2
    button.click()
    expect(ui.message_with_text(page, "new while up 2")).to_be_in_viewport()
    expect(button).to_be_hidden()


def test_a_disappearing_message_says_when_it_goes_with_the_date_unless_today(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, _bob, conversation_id = pair
    week = live_server.sent(alice, conversation_id, "lasts a week", expirationHours=168)["message"]
    page: Page = windows.open(timezone_id="UTC")
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    expires = datetime.fromisoformat(week["expiresAt"].replace("Z", "+00:00"))
    note = ui.message_with_text(page, "lasts a week").locator(".message-expiry")
    expect(note).to_contain_text(f"Disappears {expires.strftime('%a, %b %-d')} at")
    expect(note).not_to_contain_text("today")
    assert expires.strftime("%A") in (note.get_attribute("title") or "")
    expect(note.locator(".expiry-mark")).to_be_visible()
