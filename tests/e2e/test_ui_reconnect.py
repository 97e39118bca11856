"""A server restart: the page says it is reconnecting, comes back by itself and catches up exactly once."""

from typing import Any

import pytest
from playwright.sync_api import expect
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_after_a_server_restart_the_page_reconnects_by_itself_and_shows_missed_messages_once(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    before = [live_server.sent(alice, conversation_id, f"before {n}")["message"]["id"] for n in range(3)]
    page = windows.open()
    ui.login(page, bob)
    ui.open_chat(page, conversation_id)
    for message_id in before:
        expect(ui.message(page, message_id)).to_have_count(1)

    live_server.stop()
    state = page.locator("#connection-state")
    expect(state).to_have_attribute("data-state", "reconnecting")
    expect(state).to_contain_text("Reconnecting")
    expect(state).to_be_visible()

    live_server.start()
    missed = [live_server.sent(alice, conversation_id, f"missed {n}")["message"]["id"] for n in range(3)]
    expect(state).to_have_attribute("data-state", "connected")
    expect(state).to_contain_text("Connected")
    for message_id in missed:
        expect(ui.message(page, message_id)).to_have_count(1)

    page.wait_for_timeout(1000)  # a duplicate from both the catch-up and the socket would be here by now
    ids = ui.message_ids(page)
    assert sorted(ids) == sorted(before + missed), ids
    assert len(ids) == len(set(ids)), f"duplicated messages: {ids}"

    # And it is live again.
    after = live_server.sent(alice, conversation_id, "after")["message"]["id"]
    expect(ui.message(page, after)).to_have_count(1)
    assert ui.message_ids(page)[-1] == after
