"""Fetching pages, cursors, read receipts and delivery marks."""

import pytest

from app.services import points


@pytest.fixture
def history(api, alice, bob, chat):
    """Ten messages alternating between alice and bob; returns their ids in order."""
    ids = []
    for i in range(10):
        sender = alice if i % 2 == 0 else bob
        ids.append(api.send(sender, chat, f"m{i}").json["message"]["id"])
    return ids


def contents(response):
    return [m["content"] for m in response.json["messages"]]


def test_default_page_is_the_newest_messages_oldest_first(api, alice, chat, history):
    page = api.messages(alice, chat, limit=4)
    assert contents(page) == ["m6", "m7", "m8", "m9"]
    assert page.json["hasMore"] is True
    assert api.messages(alice, chat).json["hasMore"] is False


def test_before_pages_backwards(api, alice, chat, history):
    page = api.messages(alice, chat, limit=4, before=history[6])
    assert contents(page) == ["m2", "m3", "m4", "m5"]
    assert page.json["hasMore"] is True
    last = api.messages(alice, chat, limit=4, before=history[2])
    assert contents(last) == ["m0", "m1"]
    assert last.json["hasMore"] is False


def test_after_catches_up_in_order(api, alice, chat, history):
    page = api.messages(alice, chat, limit=3, after=history[4])
    assert contents(page) == ["m5", "m6", "m7"]
    assert page.json["hasMore"] is True
    rest = api.messages(alice, chat, limit=3, after=history[7])
    assert contents(rest) == ["m8", "m9"]
    assert rest.json["hasMore"] is False
    assert api.messages(alice, chat, after=history[9]).json["messages"] == []


def test_message_has_every_field_of_the_contract(api, alice, chat):
    message = api.send(alice, chat, "fields", clientMessageId="x1").json["message"]
    assert set(message) == {
        "id",
        "conversationId",
        "seq",
        "senderId",
        "content",
        "createdAt",
        "expiresAt",
        "deliveredAt",
        "isRead",
        "readAt",
        "clientMessageId",
        "attachments",
    }
    assert message["attachments"] == []
    assert message["senderId"] == alice.id
    assert message["createdAt"].endswith("Z")
    assert message["isRead"] is False and message["deliveredAt"] is None


def test_fetch_by_recipient_marks_delivered(api, alice, bob, chat):
    api.send(alice, chat, "deliver me")
    assert api.messages(alice, chat).json["messages"][0]["deliveredAt"] is None
    api.messages(bob, chat)
    assert api.messages(alice, chat).json["messages"][0]["deliveredAt"] is not None


def test_read_marks_all_unread_messages_of_others(api, alice, bob, chat):
    api.send(alice, chat, "one")
    api.send(alice, chat, "two")
    api.send(bob, chat, "mine")
    result = api.read(bob, chat)
    assert result.status_code == 200
    assert result.json["updated"] == 2
    assert result.json["readAt"].endswith("Z")
    by_content = {m["content"]: m for m in api.messages(alice, chat).json["messages"]}
    assert by_content["one"]["isRead"] and by_content["two"]["isRead"]
    assert by_content["mine"]["isRead"] is False
    assert api.read(bob, chat).json["updated"] == 0
    assert api.conversations(bob).json["conversations"][0]["unreadCount"] == 0


def test_read_given_ids_marks_only_those(api, alice, bob, chat):
    first = api.send(alice, chat, "one").json["message"]["id"]
    api.send(alice, chat, "two")
    result = api.read(bob, chat, messageIds=[first])
    assert result.json["updated"] == 1
    assert result.json["messageIds"] == [first]
    assert api.conversations(bob).json["conversations"][0]["unreadCount"] == 1


def test_reading_my_own_message_ids_changes_nothing(api, alice, bob, chat):
    mine = api.send(alice, chat, "mine").json["message"]["id"]
    assert api.read(alice, chat, messageIds=[mine]).json["updated"] == 0
    assert api.messages(alice, chat).json["messages"][0]["isRead"] is False


@pytest.mark.parametrize("content", ["   ", "\u200b", "\u200b\u200d\u2060\ufeff", " \u200c\n\t"])
def test_content_a_reader_would_see_as_empty_is_refused(api, alice, chat, content):
    response = api.send(alice, chat, content)
    assert response.status_code == 400, response.json
    assert response.json["error"]["fields"] == [{"field": "content", "message": "must not be blank"}]


def test_visible_text_with_a_zero_width_joiner_is_kept(api, alice, chat):
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    response = api.send(alice, chat, family)
    assert response.status_code == 201
    assert response.json["message"]["content"] == family


def test_seq_numbers_a_conversation_in_order_with_no_gaps(api, alice, bob, chat, carol):
    """Refused and replayed sends take no seq; each conversation counts from 1."""
    seqs = [api.send(alice, chat, "one", clientMessageId="c1").json["message"]["seq"]]
    assert api.send(alice, chat, "one", clientMessageId="c1").json["message"]["seq"] == 1  # a replay
    assert api.send(alice, chat, "   ").status_code == 400
    assert api.send(alice, chat, "too dear", maxCost=0).status_code == 201  # free: within maxCost
    seqs += [m["seq"] for m in api.messages(alice, chat).json["messages"][1:]]
    seqs.append(api.send(bob, chat, "two").json["message"]["seq"])
    assert seqs == [1, 2, 3]
    other = api.conversation(alice, carol)
    assert api.send(alice, other, "elsewhere").json["message"]["seq"] == 1
    assert [m["seq"] for m in api.messages(bob, chat).json["messages"]] == [1, 2, 3]


def test_a_refused_paid_send_takes_no_seq(api, alice, chat):
    for n in range(20):
        assert api.send(alice, chat, f"free {n}").status_code == 201
    assert api.send(alice, chat, "needs points").status_code == 402
    assert api.send(alice, chat, "over max", maxCost=0).status_code in (402, 409)
    points.grant_points("alice", 10)
    assert api.send(alice, chat, "paid").json["message"]["seq"] == 21
