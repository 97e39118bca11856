"""Two people in two browser windows: a message arrives live, within a second, and read marks come back."""

import re
import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

# Fixtures of tests/e2e/conftest.py: `windows` opens browser windows, `ui` knows the pages.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

LIVE_WITHIN_MS = 1000

# Records (Date.now()) when an element matching `selector` is visible with `text` in it.
WATCH_FOR = """
([selector, text]) => {
  window.__seenAt = null;
  const check = () => {
    if (window.__seenAt !== null) return;
    for (const element of document.querySelectorAll(selector)) {
      if (element.textContent.includes(text) && element.checkVisibility()) {
        window.__seenAt = Date.now();
        observer.disconnect();
        return;
      }
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(document.documentElement,
                   {subtree: true, childList: true, characterData: true, attributes: true});
  check();
}
"""


def watch_for(page: Page, selector: str, text: str) -> None:
    """Start timing the appearance of `text` in `selector` on `page` (no polling delay)."""
    page.evaluate(WATCH_FOR, [selector, text])


def seen_after(page: Page, started_ms: float) -> float:
    """Milliseconds from `started_ms` (wall clock) until the watched element appeared."""
    page.wait_for_function("() => window.__seenAt !== null", timeout=10_000)
    return page.evaluate("window.__seenAt") - started_ms


def test_message_reaches_the_other_window_within_a_second_and_opening_it_shows_read(
    windows: Windows, ui: Ui
) -> None:
    alice_page = windows.open()
    bob_page = windows.open()
    suffix = uuid.uuid4().hex[:8]
    alice_name, bob_name = f"alice_{suffix}", f"bob_{suffix}"
    ui.register(alice_page, alice_name, f"Alice {suffix}")
    ui.register(bob_page, bob_name, f"Bob {suffix}")
    ui.connected(bob_page)

    # Alice finds Bob by a prefix of his name and starts a conversation.
    alice_page.locator("#user-search").fill(bob_name[:7])
    alice_page.locator(f'#user-results button[data-username="{bob_name}"]').click()
    alice_page.wait_for_url(re.compile(r"/c/[^/]+$"))
    conversation_id = alice_page.url.rstrip("/").rsplit("/", 1)[1]
    ui.connected(alice_page)
    item = ui.conversation_item(bob_page, conversation_id)
    expect(item).to_be_visible()  # the new conversation reaches Bob's list live, before any message
    expect(item.locator(".unread-badge")).to_be_hidden()

    # Her message shows up in Bob's conversation list, preview included, within a second.
    text = f"Hello Bob {suffix}"
    watch_for(
        bob_page, f'#conversation-list li[data-conversation-id="{conversation_id}"] .conv-preview', text
    )
    alice_page.locator("textarea#message-input").fill(text)
    started = time.time() * 1000
    alice_page.locator("textarea#message-input").press("Enter")
    elapsed = seen_after(bob_page, started)
    print(f"list preview after {elapsed:.0f} ms")
    assert elapsed <= LIVE_WITHIN_MS, f"the message reached Bob's list after {elapsed:.0f} ms"
    expect(item.locator(".conv-name")).to_have_text(f"Alice {suffix}")
    expect(item.locator(".unread-badge")).to_have_text("1")
    expect(alice_page.locator("textarea#message-input")).to_have_value("")

    mine = ui.message_with_text(alice_page, text)
    expect(mine).to_have_count(1)
    expect(mine).to_have_attribute("data-mine", "true")
    expect(mine.locator(".message-status")).to_have_text(re.compile(r"^\s*(sent|delivered)\s*$"))

    # Bob opens it: he sees the message as someone else's, and Alice sees "read".
    item.click()
    bob_page.wait_for_url(re.compile(rf"/c/{re.escape(conversation_id)}$"))
    theirs = ui.message_with_text(bob_page, text)
    expect(theirs).to_have_count(1)
    expect(theirs).to_have_attribute("data-mine", "false")
    expect(mine.locator(".message-status")).to_have_text(re.compile(r"^\s*read\s*$"))
    ui.connected(bob_page)
    expect(item.locator(".unread-badge")).to_be_hidden()

    # With the chat open, the next message appears in it live, also within a second.
    second = f"Are you there? {suffix}"
    watch_for(bob_page, "#messages li.message .message-text", second)
    alice_page.locator("textarea#message-input").fill(second)
    started = time.time() * 1000
    alice_page.locator("textarea#message-input").press("Enter")
    elapsed = seen_after(bob_page, started)
    print(f"open chat after {elapsed:.0f} ms")
    assert elapsed <= LIVE_WITHIN_MS, f"the message reached Bob's open chat after {elapsed:.0f} ms"
    expect(ui.message_with_text(alice_page, second).locator(".message-status")).to_have_text(
        re.compile(r"^\s*(delivered|read)\s*$")
    )
    assert ui.message_with_text(bob_page, text).count() == 1
    assert len(set(ui.message_ids(bob_page))) == len(ui.message_ids(bob_page)) == 2
