"""Two gunicorn processes on one PostgreSQL database and one Redis queue.

Whichever process handles a request, every process delivers its events to the
sockets it holds, and logout through one process disconnects the token's sockets
held by the other. The send rate limit is counted in Redis, across both.
"""

from typing import Any

import pytest
from support.sockets import Sockets

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("realtime")]

# The fixture of conftest.py: `server_pair` is a ServerPair (two LiveServers).
ServerPair = Any


def test_socket_on_one_process_receives_what_is_sent_through_the_other(
    server_pair: ServerPair, sockets: Sockets
) -> None:
    p1, p2 = server_pair.first, server_pair.second
    a, b, c = p1.account("a"), p2.account("b"), p1.account("c")
    chat = p2.conversation(a, b)
    a_on_1, a_on_2 = sockets.open(p1, a, "A on process 1"), sockets.open(p2, a, "A on process 2")
    b_on_1 = sockets.open(p1, b, "B on process 1")
    c_on_1, c_on_2 = sockets.open(p1, c, "C on process 1"), sockets.open(p2, c, "C on process 2")

    through_2 = p2.sent(a, chat, "sent through process 2")
    message = through_2["message"]
    assert b_on_1.wait_for("message:new", lambda m: m["id"] == message["id"]) == message
    assert a_on_1.wait_for("quota:update") == through_2["quota"]
    assert a_on_2.wait_for("quota:update") == through_2["quota"]

    marks = a_on_2.mark()
    through_1 = p1.sent(a, chat, "sent through process 1")
    assert a_on_2.wait_for("quota:update", since=marks) == through_1["quota"]
    assert through_1["quota"]["messagesSentToday"] == 2
    a_on_2.wait_for("message:new", lambda m: m["id"] == through_1["message"]["id"])
    b_on_1.wait_for("message:new", lambda m: m["id"] == through_1["message"]["id"])

    b_on_1.assert_quiet("quota:update")
    c_on_1.assert_quiet()
    c_on_2.assert_quiet()
    for sock in (a_on_1, a_on_2, b_on_1):
        assert len(sock.payloads("message:new")) == 2, sock.label


def test_receipts_and_typing_cross_processes(server_pair: ServerPair, sockets: Sockets) -> None:
    p1, p2 = server_pair.first, server_pair.second
    a, b, c = p1.account("a"), p1.account("b"), p2.account("c")
    chat = p1.conversation(a, b)
    a_on_2, b_on_1, c_on_2 = (
        sockets.open(p2, a, "A on 2"),
        sockets.open(p1, b, "B on 1"),
        sockets.open(p2, c, "C on 2"),
    )
    message_id = p1.sent(a, chat, "ack me")["message"]["id"]
    b_on_1.wait_for("message:new", lambda m: m["id"] == message_id)

    assert b_on_1.call("message:ack", {"messageIds": [message_id]}) == {"ok": True, "delivered": 1}
    assert a_on_2.wait_for("message:delivered")["messageIds"] == [message_id]

    response = p2.read(b, chat)
    assert response.status_code == 200 and response.json()["updated"] == 1, response.text
    receipt = a_on_2.wait_for("message:read")
    assert receipt["messageIds"] == [message_id] and receipt["readerId"] == b.id

    assert a_on_2.call("typing", {"conversationId": chat, "isTyping": True}) == {"ok": True}
    assert b_on_1.wait_for("typing") == {"conversationId": chat, "userId": a.id, "isTyping": True}
    c_on_2.assert_quiet()
    a_on_2.assert_quiet("typing")


def test_conversation_settings_reach_the_right_sockets_on_every_process(
    server_pair: ServerPair, sockets: Sockets
) -> None:
    p1, p2 = server_pair.first, server_pair.second
    a, b = p1.account("a"), p1.account("b")
    chat = p1.conversation(a, b)
    a_on_2, b_on_1 = sockets.open(p2, a, "A on 2"), sockets.open(p1, b, "B on 1")

    archived = p2.update_conversation(b, chat, archived=True)
    assert archived.status_code == 200, archived.text
    assert b_on_1.wait_for("conversation:update")["archived"] is True
    a_on_2.assert_quiet("conversation:update")  # B's archive is B's own

    marks = b_on_1.mark()
    p2.sent(a, chat, "wake up")
    back = b_on_1.wait_for("conversation:update", since=marks)
    assert back["archived"] is False and back["unreadCount"] == 1

    marks = b_on_1.mark()
    assert p1.update_conversation(a, chat, expirationHours=8).status_code == 200
    for sock, since in ((a_on_2, 0), (b_on_1, marks)):
        timer = sock.wait_for("conversation:update", since=since)
        assert timer["expirationHours"] == 8 and timer["expirationSetBy"] == a.id, sock.label
    sent = p2.sent(b, chat, "timed by the chat")["message"]
    assert sent["expiresAt"] is not None


def test_logout_through_one_process_disconnects_the_tokens_sockets_on_the_other(
    server_pair: ServerPair, sockets: Sockets
) -> None:
    p1, p2 = server_pair.first, server_pair.second
    a, b = p1.account("a"), p2.account("b")
    chat = p1.conversation(b, a)
    other_session = p2.logged_in(a.username)
    on_2 = sockets.open(p2, a, "A token 1 on process 2")
    on_1 = sockets.open(p1, a, "A token 1 on process 1")
    kept = sockets.open(p2, other_session, "A token 2 on process 2")

    assert p1.logout(a).status_code == 200
    assert on_2.disconnected.wait(5), "the socket on process 2 is still connected after logout on process 1"
    assert on_1.disconnected.wait(5), "the socket on process 1 is still connected after logout"

    assert "token_revoked" in str(sockets.refusal(p2, "A token 1 again on process 2", token=a.token))
    message_id = p1.sent(b, chat, "after the logout")["message"]["id"]
    kept.wait_for("message:new", lambda m: m["id"] == message_id)
    assert kept.connected


def test_reconnect_to_the_other_process_catches_up_with_the_missed_messages(
    server_pair: ServerPair, sockets: Sockets
) -> None:
    p1, p2 = server_pair.first, server_pair.second
    a, b = p1.account("a"), p1.account("b")
    chat = p1.conversation(a, b)
    b_on_1 = sockets.open(p1, b, "B on process 1")
    last_seen = p2.sent(a, chat, "before")["message"]["id"]
    b_on_1.wait_for("message:new", lambda m: m["id"] == last_seen)
    b_on_1.close()

    missed = [(p1 if i % 2 else p2).sent(a, chat, f"away {i}")["message"]["id"] for i in range(4)]
    b_on_2 = sockets.open(p2, b, "B back on process 2")
    page = p1.messages(b, chat, after=last_seen).json()
    assert [m["id"] for m in page["messages"]] == missed and page["hasMore"] is False
    latest = p1.sent(a, chat, "after")["message"]["id"]  # the 6th send: at the limit, not over it
    b_on_2.wait_for("message:new", lambda m: m["id"] == latest)


def test_send_rate_limit_is_counted_across_both_processes(server_pair: ServerPair) -> None:
    p1, p2 = server_pair.first, server_pair.second
    a, b = p1.account("a"), p1.account("b")
    chat = p1.conversation(a, b)
    limit = server_pair.send_rate_limit
    statuses = [(p1 if i % 2 else p2).send(a, chat, f"m{i}").status_code for i in range(limit)]
    assert statuses == [201] * limit
    over = [p1.send(a, chat, "one too many"), p2.send(a, chat, "one too many")]
    assert [r.status_code for r in over] == [429, 429], [r.text for r in over]
    assert all(r.headers.get("Retry-After") for r in over)
