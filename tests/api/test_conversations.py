"""Starting and listing conversations."""

import uuid

import sqlalchemy as sa

from app.extensions import db
from app.models import Conversation, PointsTransaction
from app.services import points


def test_start_conversation_returns_201_with_both_participants(api, alice, bob):
    response = api.start(alice, bob)
    assert response.status_code == 201
    conversation = response.json["conversation"]
    assert {p["username"] for p in conversation["participants"]} == {"alice", "bob"}
    assert conversation["lastMessage"] is None
    assert conversation["unreadCount"] == 0
    assert response.json["pointsCharged"] == 0


def test_starting_again_returns_the_same_conversation_with_200(api, alice, bob):
    first = api.start(alice, bob)
    again = api.start(alice, bob)
    reverse = api.start(bob, alice)
    assert again.status_code == 200 and reverse.status_code == 200
    ids = {r.json["conversation"]["id"] for r in (first, again, reverse)}
    assert len(ids) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 1


def test_cannot_start_a_conversation_with_yourself(api, alice):
    response = api.start(alice, alice)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "cannot_message_self"


def test_unknown_receiver_is_404(api, alice):
    response = api.client.post(
        "/api/conversations/create",
        json={"receiverId": "00000000-0000-4000-8000-000000000000"},
        headers=alice.headers,
    )
    assert response.status_code == 404
    assert response.json["error"]["code"] == "user_not_found"


def test_price_mismatch_is_409_and_charges_nothing(app, api, alice, bob):
    response = api.start(alice, bob, pointsCost=5)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "price_mismatch"
    assert response.json["error"]["price"] == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 0


def test_server_price_is_charged_once_with_a_ledger_row(app, api, alice, bob):
    app.config["CONVERSATION_POINTS_COST"] = 5
    points.grant_points("alice", 12)
    response = api.start(alice, bob, pointsCost=5)
    assert response.status_code == 201
    assert response.json["pointsCharged"] == 5
    again = api.start(alice, bob, pointsCost=99)  # existing pair: nothing charged whatever pointsCost says
    assert again.status_code == 200
    assert again.json["pointsCharged"] == 0
    assert api.quota(alice).json["pointsBalance"] == 7
    rows = db.session.scalars(
        sa.select(PointsTransaction).where(PointsTransaction.reason == "conversation_start")
    ).all()
    assert [r.amount for r in rows] == [-5]


def test_server_price_without_points_is_402(app, api, alice, bob):
    app.config["CONVERSATION_POINTS_COST"] = 5
    response = api.start(alice, bob)
    assert response.status_code == 402
    assert response.json["error"]["code"] == "insufficient_points"
    assert response.json["error"]["required"] == 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 0


def test_list_shows_latest_activity_first_with_unread_counts(api, alice, bob, carol):
    with_bob = api.conversation(alice, bob)
    with_carol = api.conversation(alice, carol)
    api.send(bob, with_bob, "from bob 1")
    api.send(bob, with_bob, "from bob 2")
    api.send(carol, with_carol, "from carol")
    listed = api.conversations(alice).json["conversations"]
    assert [c["id"] for c in listed] == [with_carol, with_bob]
    assert [c["unreadCount"] for c in listed] == [1, 2]
    assert listed[1]["lastMessage"]["content"] == "from bob 2"
    api.send(alice, with_bob, "reply")
    listed = api.conversations(alice).json["conversations"]
    assert [c["id"] for c in listed] == [with_bob, with_carol]
    assert listed[0]["unreadCount"] == 2  # my own reply is never unread for me


def test_list_only_shows_my_conversations(api, alice, bob, carol):
    api.conversation(alice, bob)
    assert api.conversations(carol).json["conversations"] == []


def test_participants_are_remembered_only_once_the_conversation_exists(app, api, alice, bob):
    from app.models import ConversationParticipant, pair_key
    from app.services.conversations import participant_ids

    future_id = uuid.uuid4()
    assert participant_ids(future_id) == ()
    a, b = uuid.UUID(alice.id), uuid.UUID(bob.id)
    db.session.add(Conversation(id=future_id, pair_key=pair_key(a, b)))
    db.session.add_all([ConversationParticipant(conversation_id=future_id, user_id=uid) for uid in (a, b)])
    db.session.commit()
    assert set(participant_ids(future_id)) == {a, b}
    # Remembered: membership of a conversation never changes.
    db.session.execute(sa.delete(ConversationParticipant).where(ConversationParticipant.user_id == b))
    db.session.commit()
    assert set(participant_ids(future_id)) == {a, b}
