"""Disappearing messages: filtered from every read, marked at the next login, no timers."""

from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import Message


def test_one_hour_message_is_invisible_once_the_clock_passes_expires_at(clock, api, alice, bob, chat):
    sent = api.send(alice, chat, "self-destructs", expirationHours=1)
    assert sent.status_code == 201
    assert sent.json["message"]["expiresAt"] == "2026-11-25T13:00:00Z"
    assert [m["content"] for m in api.messages(bob, chat).json["messages"]] == ["self-destructs"]
    clock.shift(timedelta(minutes=59))
    assert len(api.messages(bob, chat).json["messages"]) == 1
    clock.shift(timedelta(minutes=1))
    assert api.messages(bob, chat).json["messages"] == []
    assert api.messages(alice, chat).json["messages"] == []


def test_next_login_marks_expired_messages(clock, api, alice, bob, chat):
    api.send(alice, chat, "gone soon", expirationHours=1)
    api.send(alice, chat, "stays")
    clock.shift(timedelta(hours=2))
    login = api.login("bob")
    assert login.status_code == 200
    assert login.json["expiredMessages"] == 1
    flags = dict(db.session.execute(sa.select(Message.content, Message.is_expired)).all())
    assert flags == {"gone soon": True, "stays": False}
    assert api.login("alice").json["expiredMessages"] == 0  # already marked


def test_login_marks_only_the_users_own_conversations(clock, api, alice, bob, carol, chat):
    other_chat = api.conversation(carol, bob)
    api.send(alice, chat, "alice's", expirationHours=1)
    api.send(carol, other_chat, "carol's", expirationHours=1)
    clock.shift(timedelta(hours=1, seconds=1))
    assert api.login("alice").json["expiredMessages"] == 1
    assert api.login("carol").json["expiredMessages"] == 1


def test_expired_messages_never_count_in_conversation_list(clock, api, alice, bob, chat):
    api.send(alice, chat, "kept")
    api.send(alice, chat, "vanishing", expirationHours=1)
    listed = api.conversations(bob).json["conversations"][0]
    assert listed["unreadCount"] == 2
    assert listed["lastMessage"]["content"] == "vanishing"
    clock.shift(timedelta(hours=1))
    listed = api.conversations(bob).json["conversations"][0]
    assert listed["unreadCount"] == 1
    assert listed["lastMessage"]["content"] == "kept"


def test_expired_messages_cannot_be_marked_read(clock, api, alice, bob, chat):
    api.send(alice, chat, "vanishing", expirationHours=1)
    clock.shift(timedelta(hours=1))
    assert api.read(bob, chat).json["updated"] == 0


def test_expiration_is_stored_as_an_absolute_time(clock, api, alice, chat):
    sent = api.send(alice, chat, "a week", expirationHours=168)
    assert sent.json["message"]["expiresAt"] == "2026-12-02T12:00:00Z"
    assert api.send(alice, chat, "forever").json["message"]["expiresAt"] is None
    assert api.send(alice, chat, "explicit null", expirationHours=None).json["message"]["expiresAt"] is None


def test_a_retry_of_an_expired_message_does_not_bring_it_back(clock, api, alice, bob, chat):
    first = api.send(alice, chat, "secret", expirationHours=1, clientMessageId="once")
    assert first.status_code == 201
    clock.shift(timedelta(hours=1))
    retry = api.send(alice, chat, "secret", expirationHours=1, clientMessageId="once")
    assert retry.status_code == 409, retry.json
    assert retry.json["error"]["code"] == "client_message_id_reused"
    assert "secret" not in retry.get_data(as_text=True)
