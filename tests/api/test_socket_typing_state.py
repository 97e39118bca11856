"""Typing that survives a reload, in process: the ack of `join` lists who is typing now.

The app of these tests has no Redis, so the state is the in-memory store; the two-process
test on Redis is tests/realtime/test_typing_two_processes.py.
"""

from datetime import timedelta

from app.realtime.typing_state import RedisTypingState


def join(sock, conversation_id):
    return sock.emit("join", {"conversationId": conversation_id}, callback=True)


def typing(sock, conversation_id, is_typing):
    ack = sock.emit("typing", {"conversationId": conversation_id, "isTyping": is_typing}, callback=True)
    assert ack == {"ok": True}


def typing_events(sock):
    return [e["args"][0] for e in sock.get_received() if e["name"] == "typing"]


def test_join_lists_the_other_participant_who_is_typing(clock, api, alice, bob, chat, connect):
    alice_socket = connect(alice)
    assert join(connect(bob), chat) == {"ok": True, "typing": []}
    typing(alice_socket, chat, True)
    assert join(connect(bob), chat) == {"ok": True, "typing": [alice.id]}  # bob reloaded
    assert join(connect(alice), chat) == {"ok": True, "typing": []}  # not her own typing


def test_a_false_clears_the_typing_state(clock, api, alice, bob, chat, connect):
    alice_socket = connect(alice)
    typing(alice_socket, chat, True)
    typing(alice_socket, chat, False)
    assert join(connect(bob), chat) == {"ok": True, "typing": []}


def test_typing_counts_for_less_than_the_ttl(app, clock, api, alice, bob, chat, connect):
    ttl = app.config["TYPING_TTL_SECONDS"]
    assert ttl == 6
    typing(connect(alice), chat, True)
    clock.shift(timedelta(seconds=ttl - 0.01))
    assert join(connect(bob), chat)["typing"] == [alice.id]
    clock.shift(timedelta(seconds=0.01))
    assert join(connect(bob), chat) == {"ok": True, "typing": []}


def test_an_outsider_cannot_join_nor_see_who_is_typing(clock, api, alice, bob, carol, chat, connect):
    typing(connect(alice), chat, True)
    refused = join(connect(carol), chat)
    assert refused["ok"] is False and "typing" not in refused
    assert refused["error"]["code"] == "conversation_not_found"


def test_typing_in_one_conversation_never_shows_in_another(clock, api, alice, bob, carol, chat, connect):
    other = api.conversation(alice, carol)
    alice_socket = connect(alice)
    typing(alice_socket, chat, True)
    assert join(connect(carol), other) == {"ok": True, "typing": []}
    typing(alice_socket, other, True)
    typing(alice_socket, chat, False)
    assert join(connect(carol), other) == {"ok": True, "typing": [alice.id]}
    assert join(connect(bob), chat) == {"ok": True, "typing": []}


def test_a_closed_tab_stops_its_typing_indicator(clock, api, alice, bob, chat, connect):
    alice_socket, bob_socket = connect(alice), connect(bob)
    typing(alice_socket, chat, True)
    typing_events(bob_socket)  # the relayed true
    alice_socket.disconnect()
    assert typing_events(bob_socket) == [{"conversationId": chat, "userId": alice.id, "isTyping": False}]
    assert join(connect(bob), chat) == {"ok": True, "typing": []}


def test_a_closed_tab_leaves_the_indicator_of_a_tab_that_typed_after_it(
    clock, api, alice, bob, chat, connect
):
    first_tab, second_tab, bob_socket = connect(alice), connect(alice), connect(bob)
    typing(first_tab, chat, True)
    clock.shift(timedelta(seconds=1))
    typing(second_tab, chat, True)
    typing_events(bob_socket)
    first_tab.disconnect()
    assert typing_events(bob_socket) == []
    assert join(connect(bob), chat)["typing"] == [alice.id]
    second_tab.disconnect()
    assert typing_events(bob_socket) == [{"conversationId": chat, "userId": alice.id, "isTyping": False}]
    assert join(connect(bob), chat)["typing"] == []


def test_a_tab_that_said_false_closes_without_a_second_false(clock, api, alice, bob, chat, connect):
    alice_socket, bob_socket = connect(alice), connect(bob)
    typing(alice_socket, chat, True)
    typing(alice_socket, chat, False)
    typing_events(bob_socket)
    alice_socket.disconnect()
    assert typing_events(bob_socket) == []


def test_an_unreachable_store_neither_fails_the_join_nor_stops_the_relay(
    app, clock, api, alice, bob, chat, connect, caplog
):
    app.extensions["typing_state"] = RedisTypingState("redis://127.0.0.1:1/0", 6)  # nothing listens
    alice_socket, bob_socket = connect(alice), connect(bob)
    typing(alice_socket, chat, True)
    assert typing_events(bob_socket) == [{"conversationId": chat, "userId": alice.id, "isTyping": True}]
    assert join(bob_socket, chat) == {"ok": True, "typing": []}
    assert "dependency unavailable" in caplog.text
