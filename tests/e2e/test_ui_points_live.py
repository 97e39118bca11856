"""Points granted from the command line show up at once in an open page, through the Socket.IO
message queue (Redis): the page's own refresh when a tab is looked at again (focus, visibility)
is switched off, and the page asks for no quota, so the push is what shows them.

This test starts its own `python wsgi.py` with SOCKETIO_MESSAGE_QUEUE on a Redis database of
its own (the session's server has no queue: the CLI could reach no page through it).
"""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, Request, expect
from support.databases import RedisDatabase
from support.pytest_live import require_redis
from support.rest import Account
from support.servers import Launcher, LiveServer
from support.settings import PASSWORD, queue_settings

# Fixtures of tests/e2e/conftest.py.
Windows = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

# From the end of `flask points grant` (which publishes as it ends) to the balance on screen.
SHOWN_WITHIN_MS = 5_000

# Switches off what could make the page ask for the quota by itself: the window's focus and
# the document's visibility changes never reach the page's listeners (a headless Chromium may
# deliver a window focus at any moment). Focus events of elements pass untouched.
BLOCK_LOOKS = """
for (const [target, name] of [[window, "focus"], [document, "visibilitychange"]]) {
  target.addEventListener(name, (event) => {
    if (event.target === target) event.stopImmediatePropagation();
  }, true);
}
"""


@pytest.fixture
def queued_server(tmp_path: Path) -> Iterator[LiveServer]:
    """`python wsgi.py` on SQLite with the Socket.IO queue on a Redis database of this test."""
    require_redis()
    claimed = RedisDatabase()
    launcher = Launcher(tmp_path)
    env = launcher.environment(
        f"sqlite:///{tmp_path / 'points.db'}", RATELIMIT_ENABLED="false", **queue_settings(claimed.url)
    )
    try:
        server = launcher.start(env, "eventlet-queue", kind="eventlet", keep_alive=False)
        since = server.log_size()
        yield server
        server.assert_alive()
        server.assert_clean_log(since)
    finally:
        launcher.stop_all()
        claimed.release()


def open_chat(page: Page, server: LiveServer, who: Account, conversation_id: str) -> None:
    """Log in through the form of `server` and open the chat, its socket connected."""
    page.goto(f"{server.url}/login")
    page.locator("#username").fill(who.username)
    page.locator("#password").fill(PASSWORD)
    page.locator("form#login-form button[type=submit]").click()
    page.wait_for_url(lambda url: urlparse(url).path == "/")
    page.goto(f"{server.url}/c/{conversation_id}")
    expect(page.locator("#connection-state")).to_have_attribute("data-state", "connected")


def test_points_granted_from_the_command_line_show_at_once_in_a_visible_focused_tab(
    queued_server: LiveServer, windows: Windows
) -> None:
    server = queued_server
    alice, bob = server.account("alice", "Alice"), server.account("bob", "Bob")
    conversation_id = server.conversation(alice, bob)
    page = windows.open()
    page.add_init_script(BLOCK_LOOKS)
    open_chat(page, server, alice, conversation_id)
    balance = page.locator("#quota [data-testid=points-balance]")
    expect(balance).to_have_text(re.compile(r"^0$"))
    expect(page.locator("#cost-notice")).to_contain_text("free")

    # From here on the page may not ask for the quota: whatever shows the grant was pushed to it.
    asked: list[str] = []

    def on_request(request: Request) -> None:
        if urlparse(request.url).path == "/api/messages/quota":
            asked.append(request.url)

    page.on("request", on_request)
    assert page.evaluate("() => document.visibilityState") == "visible"

    server.grant(alice, 25)  # `flask points grant`: a process of its own, on the same database and queue
    expect(balance).to_have_text(re.compile(r"^25$"), timeout=SHOWN_WITHIN_MS)

    assert asked == [], f"the page asked for the quota itself: {asked}"
    assert page.evaluate("() => document.visibilityState") == "visible"
    assert server.quota(alice)["pointsBalance"] == 25
    expect(page.locator("#quota [data-testid=free-remaining]")).to_have_text(re.compile(r"^20$"))
