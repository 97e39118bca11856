"""Typing that survives a reload across processes: two gunicorn processes on one Redis.

A user types through a socket on one process; the other participant reloads (a new
socket) onto the other process, and the ack of `join` there says who is typing.
"""

from typing import Any

import pytest
from support.sockets import Sockets

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("realtime")]

# The fixture of conftest.py: `server_pair` is a ServerPair (two LiveServers).
ServerPair = Any


def test_a_reload_on_the_other_process_sees_who_is_typing(server_pair: ServerPair, sockets: Sockets) -> None:
    p1, p2 = server_pair.first, server_pair.second
    a, b = p1.account("a"), p1.account("b")
    chat = p1.conversation(a, b)
    a_on_1 = sockets.open(p1, a, "A on process 1")

    assert a_on_1.call("typing", {"conversationId": chat, "isTyping": True}) == {"ok": True}
    b_on_2 = sockets.open(p2, b, "B reloaded on process 2")
    assert b_on_2.call("join", {"conversationId": chat}) == {"ok": True, "typing": [a.id]}

    assert a_on_1.call("typing", {"conversationId": chat, "isTyping": False}) == {"ok": True}
    b_again_on_2 = sockets.open(p2, b, "B reloaded again on process 2")
    assert b_again_on_2.call("join", {"conversationId": chat}) == {"ok": True, "typing": []}


def test_a_tab_closed_on_one_process_stops_the_indicator_on_the_other(
    server_pair: ServerPair, sockets: Sockets
) -> None:
    p1, p2 = server_pair.first, server_pair.second
    a, b = p1.account("a"), p1.account("b")
    chat = p1.conversation(a, b)
    a_on_1, b_on_2 = sockets.open(p1, a, "A on process 1"), sockets.open(p2, b, "B on process 2")
    assert a_on_1.call("typing", {"conversationId": chat, "isTyping": True}) == {"ok": True}
    b_on_2.wait_for("typing", lambda t: t["isTyping"])
    mark = b_on_2.mark()

    a_on_1.close()
    stopped = b_on_2.wait_for("typing", since=mark)
    assert stopped == {"conversationId": chat, "userId": a.id, "isTyping": False}
    b_reloaded_on_1 = sockets.open(p1, b, "B reloaded on process 1")
    assert b_reloaded_on_1.call("join", {"conversationId": chat}) == {"ok": True, "typing": []}
