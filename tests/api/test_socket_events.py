"""Socket.IO events in process (Flask-SocketIO's test client); real servers are in tests/realtime."""


def names(sock):
    return [packet["name"] for packet in sock.get_received()]


def test_send_emits_message_to_both_and_quota_to_sender(api, alice, bob, chat, connect):
    alice_socket, bob_socket = connect(alice), connect(bob)
    sent = api.send(alice, chat, "live").json["message"]
    bob_events = bob_socket.get_received()
    assert [e["name"] for e in bob_events] == ["message:new"]
    assert bob_events[0]["args"][0] == sent
    assert sorted(names(alice_socket)) == ["message:new", "quota:update"]


def test_refused_sends_emit_nothing(api, alice, bob, chat, connect):
    for i in range(20):
        api.send(alice, chat, f"free {i}")
    alice_socket, bob_socket = connect(alice), connect(bob)
    assert api.send(alice, chat, "needs points").status_code == 402
    assert api.send(alice, chat, "   ").status_code == 400
    assert names(alice_socket) == [] and names(bob_socket) == []


def test_retry_with_same_client_message_id_emits_nothing_again(api, alice, bob, chat, connect):
    bob_socket = connect(bob)
    api.send(alice, chat, "once", clientMessageId="r1")
    api.send(alice, chat, "once", clientMessageId="r1")
    assert names(bob_socket) == ["message:new"]


def test_connect_without_or_with_bad_token_is_refused(app, client, alice, connect):
    assert not connect(auth={}).is_connected()
    assert not connect(auth={"token": "garbage"}).is_connected()
    assert connect(alice).is_connected()


def test_conversation_new_reaches_the_other_participant(api, alice, bob, connect):
    bob_socket = connect(bob)
    api.start(alice, bob)
    events = bob_socket.get_received()
    assert [e["name"] for e in events] == ["conversation:new"]
    assert events[0]["args"][0]["participants"][0]["username"] in {"alice", "bob"}


def test_read_receipt_reaches_the_sender(api, alice, bob, chat, connect):
    message_id = api.send(alice, chat, "read me").json["message"]["id"]
    alice_socket = connect(alice)
    api.read(bob, chat)
    events = alice_socket.get_received()
    read = [e for e in events if e["name"] == "message:read"]
    assert len(read) == 1
    assert read[0]["args"][0]["messageIds"] == [message_id]
    assert read[0]["args"][0]["readerId"] == bob.id


def test_ack_sets_delivered_once_and_tells_the_sender(api, alice, bob, chat, connect):
    message_id = api.send(alice, chat, "ack me").json["message"]["id"]
    alice_socket, bob_socket = connect(alice), connect(bob)
    assert bob_socket.emit("message:ack", {"messageIds": [message_id]}, callback=True) == {
        "ok": True,
        "delivered": 1,
    }
    assert bob_socket.emit("message:ack", {"messageIds": [message_id]}, callback=True)["delivered"] == 0
    delivered = [e for e in alice_socket.get_received() if e["name"] == "message:delivered"]
    assert len(delivered) == 1
    assert delivered[0]["args"][0]["messageIds"] == [message_id]


def test_acking_my_own_message_changes_nothing(api, alice, bob, chat, connect):
    message_id = api.send(alice, chat, "mine").json["message"]["id"]
    alice_socket = connect(alice)
    assert alice_socket.emit("message:ack", {"messageIds": [message_id]}, callback=True)["delivered"] == 0


def test_typing_reaches_only_the_other_participant(api, alice, bob, carol, chat, connect):
    alice_socket, bob_socket, carol_socket = connect(alice), connect(bob), connect(carol)
    ack = alice_socket.emit("typing", {"conversationId": chat, "isTyping": True}, callback=True)
    assert ack == {"ok": True}
    bob_events = bob_socket.get_received()
    assert [e["name"] for e in bob_events] == ["typing"]
    assert bob_events[0]["args"][0] == {"conversationId": chat, "userId": alice.id, "isTyping": True}
    assert names(alice_socket) == [] and names(carol_socket) == []


def test_typing_in_a_foreign_conversation_is_refused(api, alice, bob, carol, chat, connect):
    carol_socket, bob_socket = connect(carol), connect(bob)
    ack = carol_socket.emit("typing", {"conversationId": chat, "isTyping": True}, callback=True)
    assert ack["ok"] is False
    assert ack["error"]["code"] == "conversation_not_found"
    assert names(bob_socket) == []


def test_typing_is_throttled_per_socket(app, api, alice, bob, chat, connect):
    alice_socket = connect(alice)
    limit = app.config["TYPING_EVENTS_PER_SECOND"]
    acks = [
        alice_socket.emit("typing", {"conversationId": chat, "isTyping": True}, callback=True)
        for _ in range(limit + 3)
    ]
    assert [a["ok"] for a in acks] == [True] * limit + [False] * 3
    assert acks[-1]["error"]["code"] == "rate_limited"


def test_join_answers_ok_only_for_my_conversations(api, alice, bob, carol, chat, connect):
    assert connect(alice).emit("join", {"conversationId": chat}, callback=True) == {"ok": True, "typing": []}
    refused = connect(carol).emit("join", {"conversationId": chat}, callback=True)
    assert refused["ok"] is False
    bad = connect(alice).emit("join", {"conversationId": "nope"}, callback=True)
    assert bad["error"]["code"] == "validation_error"


def test_logout_disconnects_the_tokens_sockets(api, alice, connect):
    alice_socket = connect(alice)
    assert alice_socket.is_connected()
    api.client.post("/api/auth/logout", headers=alice.headers)
    assert not alice_socket.is_connected()
    assert not connect(alice).is_connected()


def test_joins_and_acks_are_throttled_per_socket(app, api, alice, bob, chat, connect, monkeypatch):
    # The window is one second of the monotonic clock: frozen here, so a slow machine
    # cannot spread the flood over two windows.
    import time
    from types import SimpleNamespace

    frozen = time.monotonic()
    monkeypatch.setattr("app.realtime.events.time", SimpleNamespace(time=time.time, monotonic=lambda: frozen))
    alice_socket = connect(alice)
    limit = app.config["SOCKET_EVENTS_PER_SECOND"]
    joins = [alice_socket.emit("join", {"conversationId": chat}, callback=True) for _ in range(limit + 2)]
    assert [j["ok"] for j in joins] == [True] * limit + [False] * 2
    assert joins[-1]["error"]["code"] == "rate_limited"
    message_id = api.send(bob, chat, "ack flood").json["message"]["id"]
    acks = [
        alice_socket.emit("message:ack", {"messageIds": [message_id]}, callback=True)
        for _ in range(limit + 1)
    ]
    assert acks[-1]["error"]["code"] == "rate_limited"
    assert connect(alice).emit("join", {"conversationId": chat}, callback=True) == {"ok": True, "typing": []}


def test_acking_an_expired_message_changes_nothing_and_tells_nobody(clock, api, alice, bob, chat, connect):
    from datetime import timedelta

    message_id = api.send(alice, chat, "gone soon", expirationHours=1).json["message"]["id"]
    clock.shift(timedelta(hours=1))
    alice_socket, bob_socket = connect(alice), connect(bob)
    assert bob_socket.emit("message:ack", {"messageIds": [message_id]}, callback=True)["delivered"] == 0
    assert names(alice_socket) == []
