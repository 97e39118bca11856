"""Events over real sockets: messages, quota, receipts, typing, rooms, catch-up after a reconnect.

Each test runs against `python wsgi.py` (SQLite) and `gunicorn -k eventlet -w 1`
(PostgreSQL); see conftest.py. Every test has a third user, C, whose socket must
see none of A and B's events: that is checked after a positive control arrived
on another socket, with a short bounded wait.
"""

import uuid
from typing import Any

import pytest
from support.servers import LiveServer
from support.sockets import Sockets

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("realtime")]


def trio(server: LiveServer) -> tuple[Any, Any, Any, str]:
    """Three new users A, B, C and A and B's conversation."""
    a, b, c = server.account("a"), server.account("b"), server.account("c")
    return a, b, c, server.conversation(a, b)


def test_sent_message_reaches_every_socket_of_both_participants_and_quota_only_the_sender(
    server: LiveServer, sockets: Sockets
) -> None:
    a, b, c, chat = trio(server)
    a_tab1, a_tab2 = sockets.open(server, a, "A tab 1"), sockets.open(server, a, "A tab 2")
    b_sock, c_sock = sockets.open(server, b, "B"), sockets.open(server, c, "C")

    body = server.sent(a, chat, "hello B")
    message = body["message"]

    assert b_sock.wait_for("message:new", lambda m: m["id"] == message["id"]) == message
    assert message["senderId"] == a.id and message["content"] == "hello B"
    for tab in (a_tab1, a_tab2):
        assert tab.wait_for("message:new", lambda m: m["id"] == message["id"]) == message
        quota = tab.wait_for("quota:update")
        assert quota == body["quota"]
        assert quota["messagesSentToday"] == 1 and quota["freeRemaining"] == quota["dailyFreeLimit"] - 1
    b_sock.assert_quiet("quota:update")
    c_sock.assert_quiet()
    assert len(b_sock.payloads("message:new")) == 1


def test_new_conversation_reaches_the_other_participant_only_and_only_once(
    server: LiveServer, sockets: Sockets
) -> None:
    a, b, c = server.account("a"), server.account("b"), server.account("c")
    a_sock, b_sock, c_sock = (sockets.open(server, u, n) for u, n in ((a, "A"), (b, "B"), (c, "C")))

    response = server.start_conversation(a, b)
    assert response.status_code == 201, response.text
    conversation = response.json()["conversation"]
    got = b_sock.wait_for("conversation:new")
    assert got["id"] == conversation["id"]
    assert sorted(p["id"] for p in got["participants"]) == sorted([a.id, b.id])

    again = server.start_conversation(b, a)  # the pair's conversation exists: 200, nothing new
    assert again.status_code == 200 and again.json()["conversation"]["id"] == conversation["id"]
    assert b_sock.call("typing", {"conversationId": conversation["id"], "isTyping": True}) == {"ok": True}
    a_sock.wait_for("typing")  # the control
    a_sock.assert_quiet("conversation:new")
    assert len(b_sock.payloads("conversation:new")) == 1
    c_sock.assert_quiet()


def test_read_receipt_reaches_the_senders_sockets(server: LiveServer, sockets: Sockets) -> None:
    a, b, c, chat = trio(server)
    first = server.sent(a, chat, "one")["message"]["id"]
    second = server.sent(a, chat, "two")["message"]["id"]
    a_sock, b_sock, c_sock = (sockets.open(server, u, n) for u, n in ((a, "A"), (b, "B"), (c, "C")))

    response = server.read(b, chat)
    assert response.status_code == 200, response.text
    assert response.json()["updated"] == 2

    receipt = a_sock.wait_for("message:read")
    assert receipt["conversationId"] == chat
    assert sorted(receipt["messageIds"]) == sorted([first, second])
    assert receipt["readerId"] == b.id
    assert receipt["readAt"] == response.json()["readAt"]
    b_sock.assert_quiet("message:read")
    c_sock.assert_quiet()


def test_socket_ack_sets_delivered_once_and_tells_the_sender(server: LiveServer, sockets: Sockets) -> None:
    a, b, c, chat = trio(server)
    a_sock, b_sock, c_sock = (sockets.open(server, u, n) for u, n in ((a, "A"), (b, "B"), (c, "C")))
    message_id = server.sent(a, chat, "ack me")["message"]["id"]
    b_sock.wait_for("message:new", lambda m: m["id"] == message_id)

    assert b_sock.call("message:ack", {"messageIds": [message_id]}) == {"ok": True, "delivered": 1}
    receipt = a_sock.wait_for("message:delivered")
    assert receipt["conversationId"] == chat and receipt["messageIds"] == [message_id]
    stored = server.messages(a, chat).json()["messages"]
    assert [m["deliveredAt"] for m in stored] == [receipt["deliveredAt"]]

    mark = a_sock.mark()
    assert b_sock.call("message:ack", {"messageIds": [message_id]}) == {"ok": True, "delivered": 0}
    a_sock.assert_quiet("message:delivered", since=mark)
    c_sock.assert_quiet()


def test_fetching_messages_marks_them_delivered_and_tells_the_sender(
    server: LiveServer, sockets: Sockets
) -> None:
    a, b, c, chat = trio(server)
    ids = [server.sent(a, chat, f"m{i}")["message"]["id"] for i in range(3)]
    a_sock, c_sock = sockets.open(server, a, "A"), sockets.open(server, c, "C")

    own = server.messages(a, chat)  # the sender's own fetch delivers nothing
    assert own.status_code == 200 and all(m["deliveredAt"] is None for m in own.json()["messages"])
    response = server.messages(b, chat)
    assert response.status_code == 200, response.text

    receipt = a_sock.wait_for("message:delivered")
    assert receipt["conversationId"] == chat and sorted(receipt["messageIds"]) == sorted(ids)
    assert len(a_sock.payloads("message:delivered")) == 1
    mark = a_sock.mark()
    assert server.messages(b, chat).status_code == 200  # a second fetch: already delivered
    a_sock.assert_quiet("message:delivered", since=mark)
    c_sock.assert_quiet()


def test_acks_by_a_stranger_or_by_the_sender_deliver_nothing(server: LiveServer, sockets: Sockets) -> None:
    a, b, c, chat = trio(server)
    a_sock, b_sock, c_sock = (sockets.open(server, u, n) for u, n in ((a, "A"), (b, "B"), (c, "C")))
    message_id = server.sent(a, chat, "not yours")["message"]["id"]
    b_sock.wait_for("message:new")

    assert c_sock.call("message:ack", {"messageIds": [message_id]}) == {"ok": True, "delivered": 0}
    assert a_sock.call("message:ack", {"messageIds": [message_id]}) == {"ok": True, "delivered": 0}
    assert server.messages(a, chat).json()["messages"][0]["deliveredAt"] is None

    assert b_sock.call("message:ack", {"messageIds": [message_id]})["delivered"] == 1  # the control
    a_sock.wait_for("message:delivered")
    assert len(a_sock.payloads("message:delivered")) == 1
    c_sock.assert_quiet("message:delivered", "message:new")


def test_malformed_ack_is_refused(server: LiveServer, sockets: Sockets) -> None:
    b = server.account("b")
    b_sock = sockets.open(server, b, "B")
    for payload in ({}, {"messageIds": []}, {"messageIds": ["nope"]}, "garbage", None):
        ack = b_sock.call("message:ack", payload)
        assert ack["ok"] is False and ack["error"]["code"] == "validation_error", payload


def test_typing_reaches_only_the_other_participant(server: LiveServer, sockets: Sockets) -> None:
    a, b, c, chat = trio(server)
    a_tab1, a_tab2 = sockets.open(server, a, "A tab 1"), sockets.open(server, a, "A tab 2")
    b_sock, c_sock = sockets.open(server, b, "B"), sockets.open(server, c, "C")

    assert a_tab1.call("typing", {"conversationId": chat, "isTyping": True}) == {"ok": True}
    assert b_sock.wait_for("typing") == {"conversationId": chat, "userId": a.id, "isTyping": True}
    assert b_sock.call("typing", {"conversationId": chat, "isTyping": False}) == {"ok": True}
    for tab in (a_tab1, a_tab2):
        assert tab.wait_for("typing") == {"conversationId": chat, "userId": b.id, "isTyping": False}

    c_sock.assert_quiet()  # also lets any stray typing event arrive
    assert b_sock.payloads("typing") == [{"conversationId": chat, "userId": a.id, "isTyping": True}]
    for tab in (a_tab1, a_tab2):  # nobody hears their own typing
        assert tab.payloads("typing") == [{"conversationId": chat, "userId": b.id, "isTyping": False}]


def test_typing_in_a_foreign_conversation_is_refused_and_relayed_to_nobody(
    server: LiveServer, sockets: Sockets
) -> None:
    a, b, c, chat = trio(server)
    a_sock, b_sock, c_sock = (sockets.open(server, u, n) for u, n in ((a, "A"), (b, "B"), (c, "C")))

    ack = c_sock.call("typing", {"conversationId": chat, "isTyping": True})
    assert ack["ok"] is False and ack["error"]["code"] == "conversation_not_found"
    unknown = c_sock.call("typing", {"conversationId": str(uuid.uuid4()), "isTyping": True})
    assert unknown["ok"] is False and unknown["error"]["code"] == "conversation_not_found"

    assert a_sock.call("typing", {"conversationId": chat, "isTyping": True}) == {"ok": True}  # the control
    b_sock.wait_for("typing")
    assert b_sock.payloads("typing") == [{"conversationId": chat, "userId": a.id, "isTyping": True}]
    a_sock.assert_quiet("typing")
    c_sock.assert_quiet()


def test_join_answers_ok_for_my_conversation_and_not_for_a_foreign_one(
    server: LiveServer, sockets: Sockets
) -> None:
    a, b, c, chat = trio(server)
    a_sock, c_sock = sockets.open(server, a, "A"), sockets.open(server, c, "C")

    assert a_sock.call("join", {"conversationId": chat}) == {"ok": True, "typing": []}
    assert a_sock.call("leave", {"conversationId": chat}) == {"ok": True}
    foreign = c_sock.call("join", {"conversationId": chat})
    assert foreign["ok"] is False and foreign["error"]["code"] == "conversation_not_found"
    unknown = c_sock.call("join", {"conversationId": str(uuid.uuid4())})
    assert unknown["ok"] is False and unknown["error"]["code"] == "conversation_not_found"
    bad = c_sock.call("join", {"conversationId": "nope"})
    assert bad["ok"] is False and bad["error"]["code"] == "validation_error"

    # A refused join gives C nothing of the conversation.
    b_sock = sockets.open(server, b, "B")
    message_id = server.sent(a, chat, "private")["message"]["id"]
    b_sock.wait_for("message:new", lambda m: m["id"] == message_id)
    c_sock.assert_quiet()


def test_refused_sends_emit_nothing(server: LiveServer, sockets: Sockets) -> None:
    a, b, c, chat = trio(server)
    quota = server.quota(a)
    for i in range(quota["dailyFreeLimit"]):
        server.sent(a, chat, f"free {i}")
    a_sock, b_sock, c_sock = (sockets.open(server, u, n) for u, n in ((a, "A"), (b, "B"), (c, "C")))

    refusals = {
        402: server.send(a, chat, "needs points"),
        409: server.send(a, chat, "too dear", maxCost=0),
        400: server.send(a, chat, "   "),
        404: server.send(c, chat, "not my conversation"),
    }
    assert {status: r.status_code for status, r in refusals.items()} == {s: s for s in refusals}
    assert refusals[402].json()["error"]["code"] == "insufficient_points"
    assert refusals[409].json()["error"]["code"] == "cost_exceeds_max"
    for body in (
        {"content": "x" * 5001},
        {"content": "bad expiry", "expirationHours": 0},
        {"content": "server-owned field", "senderId": b.id},
        {"content": 42},
    ):
        response = server.request(
            "POST", "/api/messages/send", json={"conversationId": chat, **body}, headers=a.headers
        )
        assert response.status_code == 400, (body, response.text)

    # The controls: a typing event each way arrives after anything the refusals could have emitted.
    assert a_sock.call("typing", {"conversationId": chat, "isTyping": True}) == {"ok": True}
    assert b_sock.call("typing", {"conversationId": chat, "isTyping": True}) == {"ok": True}
    b_sock.wait_for("typing")
    a_sock.wait_for("typing")
    for sock in (a_sock, b_sock, c_sock):
        sock.assert_quiet("message:new", "quota:update", "conversation:new")
    c_sock.assert_quiet()
    assert server.quota(a)["messagesSentToday"] == quota["dailyFreeLimit"]


def test_retry_with_the_same_client_message_id_emits_nothing_again(
    server: LiveServer, sockets: Sockets
) -> None:
    a, b, _, chat = trio(server)
    a_sock, b_sock = sockets.open(server, a, "A"), sockets.open(server, b, "B")
    first = server.send(a, chat, "once", clientMessageId="retry-1")
    assert first.status_code == 201, first.text
    b_sock.wait_for("message:new")
    a_sock.wait_for("quota:update")

    retry = server.send(a, chat, "once", clientMessageId="retry-1")
    assert retry.status_code == 200 and retry.json()["message"] == first.json()["message"]
    assert b_sock.call("typing", {"conversationId": chat, "isTyping": True}) == {"ok": True}  # the control
    a_sock.wait_for("typing")
    assert len(b_sock.payloads("message:new")) == 1
    assert len(a_sock.payloads("quota:update")) == 1
    assert len(a_sock.payloads("message:new")) == 1


def test_reconnecting_client_catches_up_with_exactly_the_missed_messages_in_order(
    server: LiveServer, sockets: Sockets
) -> None:
    a, b, c, chat = trio(server)
    c_sock = sockets.open(server, c, "C")
    b_sock = sockets.open(server, b, "B before")
    last_seen = server.sent(a, chat, "before the gap")["message"]["id"]
    b_sock.wait_for("message:new", lambda m: m["id"] == last_seen)
    b_sock.close()
    assert not b_sock.connected

    missed = [server.sent(a, chat, f"while away {i}")["message"] for i in range(5)]

    b_again = sockets.open(server, b, "B after")
    response = server.messages(b, chat, after=last_seen)
    assert response.status_code == 200, response.text
    page = response.json()
    assert [m["id"] for m in page["messages"]] == [m["id"] for m in missed]
    assert [m["content"] for m in page["messages"]] == [f"while away {i}" for i in range(5)]
    assert page["hasMore"] is False
    # The socket that came back gets new messages, not the missed ones again.
    after = server.sent(a, chat, "after the gap")["message"]["id"]
    b_again.wait_for("message:new", lambda m: m["id"] == after)
    assert [m["id"] for m in b_again.payloads("message:new")] == [after]
    listed = server.request("GET", "/api/conversations", headers=b.headers).json()["conversations"]
    assert [conv["lastMessage"]["id"] for conv in listed if conv["id"] == chat] == [after]
    c_sock.assert_quiet()
