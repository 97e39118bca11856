"""clientMessageId: a retry returns the first message and charges nothing."""

import sqlalchemy as sa

from app.extensions import db
from app.models import Message, PointsTransaction
from app.services import points


def test_retry_with_same_client_message_id_returns_the_first_message(api, alice, chat):
    first = api.send(alice, chat, "once", clientMessageId="c-1")
    retry = api.send(alice, chat, "once", clientMessageId="c-1")
    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json["message"]["id"] == first.json["message"]["id"]
    assert retry.json["charged"] == {"free": False, "points": 0}
    assert retry.json["quota"]["messagesSentToday"] == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1


def test_paid_retry_charges_once(api, alice, chat):
    points.grant_points("alice", 50)
    for i in range(20):
        api.send(alice, chat, f"free {i}")
    first = api.send(alice, chat, "paid once", clientMessageId="paid")
    retry = api.send(alice, chat, "paid once", clientMessageId="paid")
    assert first.json["charged"] == {"free": False, "points": 10}
    assert retry.status_code == 200
    assert retry.json["quota"]["pointsBalance"] == 40
    charges = db.session.scalar(
        sa.select(sa.func.count()).select_from(PointsTransaction).where(PointsTransaction.reason == "message")
    )
    assert charges == 1


def test_reused_client_message_id_with_other_content_is_409(api, alice, chat):
    api.send(alice, chat, "original", clientMessageId="dup")
    response = api.send(alice, chat, "different", clientMessageId="dup")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "client_message_id_reused"


def test_reused_client_message_id_in_other_conversation_is_409(api, alice, carol, chat):
    other = api.conversation(alice, carol)
    api.send(alice, chat, "same text", clientMessageId="dup")
    response = api.send(alice, other, "same text", clientMessageId="dup")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "client_message_id_reused"


def test_client_message_ids_are_per_sender(api, alice, bob, chat):
    assert api.send(alice, chat, "hi", clientMessageId="same").status_code == 201
    assert api.send(bob, chat, "hi", clientMessageId="same").status_code == 201


def test_retry_after_402_can_succeed_once_points_arrive(api, alice, chat):
    for i in range(20):
        api.send(alice, chat, f"free {i}")
    assert api.send(alice, chat, "paid", clientMessageId="later").status_code == 402
    points.grant_points("alice", 10)
    assert api.send(alice, chat, "paid", clientMessageId="later").status_code == 201


def test_paid_retry_replays_even_when_the_wallet_is_now_empty(api, alice, chat):
    points.grant_points("alice", 10)
    for i in range(20):
        api.send(alice, chat, f"free {i}")
    first = api.send(alice, chat, "last paid one", clientMessageId="paid-last")
    retry = api.send(alice, chat, "last paid one", clientMessageId="paid-last")
    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json["message"]["id"] == first.json["message"]["id"]
    assert retry.json["quota"]["pointsBalance"] == 0
    assert retry.json["quota"]["messagesSentToday"] == 21


def test_retry_replays_even_when_max_cost_is_now_below_the_price(api, alice, chat):
    first = api.send(alice, chat, "sent free", clientMessageId="free-then", maxCost=0)
    for i in range(19):
        api.send(alice, chat, f"free {i}")
    retry = api.send(alice, chat, "sent free", clientMessageId="free-then", maxCost=0)
    assert retry.status_code == 200
    assert retry.json["message"]["id"] == first.json["message"]["id"]
    assert api.quota(alice).json["messagesSentToday"] == 20
