"""A graceful restart of gunicorn: the page stops showing "Connected" at once, reconnects and catches up.

This test starts its own `gunicorn -k eventlet -w 1` (the session's server is `python wsgi.py`).
"""

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from support.rest import Account
from support.servers import Launcher, LiveServer
from support.settings import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PROMPT_MS = 2_000  # well under the harness's graceful timeout (5 s)
RECONNECT_MS = 30_000  # the new worker boots meanwhile (two shared cores)

# Records every state #connection-state shows, in order (Playwright's evaluate is not subject to the CSP).
RECORD_STATES = """() => {
  const element = document.getElementById("connection-state");
  window.connectionStates = [element.dataset.state];
  new MutationObserver(() => window.connectionStates.push(element.dataset.state))
    .observe(element, { attributes: true, attributeFilter: ["data-state"] });
}"""


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[LiveServer]:
    """One gunicorn server of this test, on SQLite."""
    launcher = Launcher(tmp_path)
    env = launcher.environment(f"sqlite:///{tmp_path / 'messaging.db'}", RATELIMIT_ENABLED="false")
    try:
        yield launcher.start(env, "gunicorn", kind="gunicorn")
    finally:
        launcher.stop_all()


def open_chat(browser: Browser, server: LiveServer, who: Account, conversation_id: str) -> Page:
    """A window of `who`, logged in through the form, on the conversation, its socket connected."""
    context = browser.new_context(base_url=server.url, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/login")
    page.locator("#username").fill(who.username)
    page.locator("#password").fill(PASSWORD)
    page.locator("form#login-form button[type=submit]").click()
    expect(page.locator("[data-testid=current-user]")).to_contain_text(who.username)
    page.goto(f"/c/{conversation_id}")
    expect(page.locator("#connection-state")).to_have_attribute("data-state", "connected")
    return page


def test_a_graceful_reload_shows_reconnecting_at_once_then_the_page_catches_up(
    browser: Browser, gunicorn: LiveServer
) -> None:
    server = gunicorn
    alice, bob = server.account("alice", "Alice"), server.account("bob", "Bob")
    chat = server.conversation(alice, bob)
    page = open_chat(browser, server, alice, chat)
    page.evaluate(RECORD_STATES)
    since = server.log_size()
    server.close_sessions()  # an idle keep-alive connection would hold the old worker for 2 s
    assert server.process is not None

    server.process.send_signal(signal.SIGHUP)  # new worker, then the old one stops gracefully
    page.wait_for_function("() => window.connectionStates.includes('reconnecting')", timeout=PROMPT_MS)
    sent = server.sent(bob, chat, "sent during the reload")["message"]

    expect(page.locator("#connection-state")).to_have_attribute(
        "data-state", "connected", timeout=RECONNECT_MS
    )
    text = page.locator(f'ol#messages li.message[data-message-id="{sent["id"]}"] .message-text')
    expect(text).to_have_text("sent during the reload")
    assert re.search(rf"/c/{chat}$", page.url), f"the page left the chat: {page.url}"
    assert "offline" not in page.evaluate("() => window.connectionStates")
    page.context.close()
    server.assert_alive()
    server.assert_clean_log(since)
