"""Disappearing messages: gone from open windows when the browser clock passes expiresAt,
and reported at the next login once the server clock has passed it."""

import re
import shutil
from typing import Any

import pytest
from playwright.sync_api import expect
from support.pytest_live import fail_or_skip
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_one_hour_message_disappears_from_both_windows_when_the_browser_clock_passes_expiry(
    windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    pages = {}
    for account in (alice, bob):
        page = windows.open()
        page.clock.install()  # a fake clock that runs at real speed until we jump it forward
        ui.login(page, account)
        ui.open_chat(page, conversation_id)
        pages[account.username] = page
    alice_page, bob_page = pages[alice.username], pages[bob.username]

    ui.send(alice_page, "this one stays")
    expect(ui.message_with_text(bob_page, "this one stays")).to_have_count(1)
    alice_page.locator("select#expiration").select_option("1")
    ui.send(alice_page, "gone in an hour")
    for page in (alice_page, bob_page):
        vanishing = ui.message_with_text(page, "gone in an hour")
        expect(vanishing).to_have_count(1)
        expect(vanishing.locator(".expiry-mark")).to_be_visible()
        expect(ui.message_with_text(page, "this one stays").locator(".expiry-mark")).to_have_count(0)

    for page in (alice_page, bob_page):
        page.clock.fast_forward("01:00:05")
    for page in (alice_page, bob_page):
        expect(ui.message_with_text(page, "gone in an hour")).to_have_count(0)
        expect(ui.message_with_text(page, "this one stays")).to_have_count(1)


def test_fresh_login_after_the_server_clock_passes_expiry_reports_the_expired_message(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    if shutil.which("faketime") is None:
        fail_or_skip("libfaketime is not installed (apt-get install -y faketime)")
    alice, bob, conversation_id = pair
    live_server.sent(alice, conversation_id, "for the record")
    live_server.sent(alice, conversation_id, "gone in an hour", expirationHours=1)

    live_server.restart(clock_offset="+2h")  # libfaketime; the next test gets the real clock back
    try:
        page = windows.open()
        ui.login(page, bob)
        notice = page.locator("[data-testid=expired-notice]")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("expired")
        number = re.search(r"\d+", notice.inner_text())
        assert number is not None, f"no number in the expired notice: {notice.inner_text()!r}"
        assert int(number.group(0)) == 1

        ui.open_chat(page, conversation_id)
        expect(ui.message_with_text(page, "for the record")).to_have_count(1)
        expect(ui.message_with_text(page, "gone in an hour")).to_have_count(0)
    finally:
        live_server.restart()


def test_a_browser_clock_ahead_of_the_server_does_not_reload_the_list_in_a_loop(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    live_server.sent(alice, conversation_id, "last, and gone in an hour", expirationHours=1)
    page = windows.open()
    page.clock.install()
    ui.login(page, bob)  # the list's first load has the message (no race with the socket)
    expect(page.locator("#conversation-list")).to_contain_text("gone in an hour")
    listings: list[str] = []
    page.on("request", lambda r: listings.append(r.url) if "/api/conversations" in r.url else None)

    page.clock.fast_forward("01:00:05")  # here it expired; the server still lists it
    page.wait_for_timeout(2000)
    assert 1 <= len(listings) <= 2, f"{len(listings)} list requests in 2 s"
