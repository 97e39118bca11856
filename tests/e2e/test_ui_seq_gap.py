"""A message whose event never reached the page: the next one's seq shows the gap, and the page fetches it."""

from typing import Any

import pytest
from playwright.sync_api import WebSocketRoute, expect
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

LOST = "lost on the way"


def drop_one_message_event(route: WebSocketRoute) -> None:
    """Pass every Socket.IO frame through, except the message:new of the LOST text."""
    server = route.connect_to_server()
    route.on_message(lambda frame: server.send(frame))

    def from_server(frame: str | bytes) -> None:
        if isinstance(frame, str) and '"message:new"' in frame and LOST in frame:
            return
        route.send(frame)

    server.on_message(from_server)


def test_a_message_whose_event_was_lost_is_fetched_when_the_next_one_arrives(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    page = windows.open()
    page.route_web_socket("**/socket.io/**", drop_one_message_event)
    ui.login(page, bob)
    ui.open_chat(page, conversation_id)
    ui.connected(page)

    sent = [live_server.sent(alice, conversation_id, text)["message"] for text in ("first", LOST, "third")]
    assert [m["seq"] for m in sent] == [1, 2, 3]
    for message in sent:
        expect(ui.message(page, message["id"])).to_have_count(1)
    assert ui.message_ids(page) == [m["id"] for m in sent]
