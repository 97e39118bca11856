"""The seed's test plan for the daily free quota and points, plus maxCost."""

import uuid
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import Message, MessageQuota, PointsTransaction
from app.services import points


def send_n(api, who, chat, n):
    for i in range(n):
        response = api.send(who, chat, f"message {i}")
        assert response.status_code == 201, response.json


def ledger_rows(user_id):
    return db.session.scalars(
        sa.select(PointsTransaction).where(PointsTransaction.user_id == uuid.UUID(user_id))
    ).all()


def test_twenty_sends_are_free(api, alice, chat):
    for i in range(20):
        response = api.send(alice, chat, f"free {i}")
        assert response.status_code == 201
        assert response.json["charged"] == {"free": True, "points": 0}
        assert response.json["quota"]["freeRemaining"] == 19 - i
    quota = api.quota(alice).json
    assert quota["messagesSentToday"] == 20
    assert quota["freeRemaining"] == 0
    assert quota["nextMessageCost"] == 10


def test_21st_message_without_points_is_402_and_changes_nothing(api, alice, chat):
    send_n(api, alice, chat, 20)
    response = api.send(alice, chat, "one too many")
    assert response.status_code == 402
    assert response.json["error"]["code"] == "insufficient_points"
    assert response.json["error"]["required"] == 10
    assert response.json["error"]["balance"] == 0
    assert api.quota(alice).json["messagesSentToday"] == 20
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 20
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsTransaction)) == 0


def test_21st_message_costs_10_points_and_writes_one_ledger_row(app, api, alice, chat):
    points.grant_points("alice", 100)
    send_n(api, alice, chat, 20)
    response = api.send(alice, chat, "paid")
    assert response.status_code == 201
    assert response.json["charged"] == {"free": False, "points": 10}
    assert response.json["quota"]["pointsBalance"] == 90
    charges = [row for row in ledger_rows(alice.id) if row.reason == "message"]
    assert len(charges) == 1
    assert charges[0].amount == -10
    assert charges[0].balance_after == 90
    assert str(charges[0].message_id) == response.json["message"]["id"]
    assert points.ledger_sum(charges[0].user_id) == 90


def test_quota_answers_the_counts(api, alice, chat):
    send_n(api, alice, chat, 3)
    quota = api.quota(alice).json
    assert quota["dailyFreeLimit"] == 20
    assert quota["messagesSentToday"] == 3
    assert quota["freeRemaining"] == 17
    assert quota["pointsPerMessage"] == 10
    assert quota["pointsBalance"] == 0
    assert quota["nextMessageCost"] == 0


def test_quota_resets_the_next_day_without_a_timer(clock, api, alice, chat):
    send_n(api, alice, chat, 20)
    before = api.quota(alice).json
    assert before["freeRemaining"] == 0
    assert before["quotaDate"] == "2026-11-25"
    assert before["resetsAt"] == "2026-11-26T00:00:00Z"
    clock.shift(timedelta(hours=13))  # 01:00 the next day
    after = api.quota(alice).json
    assert after["quotaDate"] == "2026-11-26"
    assert after["freeRemaining"] == 20
    response = api.send(alice, chat, "free again")
    assert response.status_code == 201
    assert response.json["charged"] == {"free": True, "points": 0}
    assert response.json["quota"]["messagesSentToday"] == 1


def test_quota_day_follows_the_configured_time_zone(clock, app, api, alice, chat):
    app.config["QUOTA_TIMEZONE"] = "Asia/Tokyo"  # noon UTC is 21:00 in Tokyo
    send_n(api, alice, chat, 20)
    assert api.quota(alice).json["quotaDate"] == "2026-11-25"
    assert api.quota(alice).json["resetsAt"] == "2026-11-25T15:00:00Z"
    clock.shift(timedelta(hours=3, minutes=1))  # 00:01 in Tokyo
    assert api.quota(alice).json["freeRemaining"] == 20


def test_max_cost_below_price_is_409_and_charges_nothing(api, alice, chat):
    points.grant_points("alice", 100)
    send_n(api, alice, chat, 20)
    response = api.send(alice, chat, "agreed to pay nothing", maxCost=0)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "cost_exceeds_max"
    assert response.json["error"]["cost"] == 10
    quota = api.quota(alice).json
    assert quota["pointsBalance"] == 100
    assert quota["messagesSentToday"] == 20


def test_max_cost_at_price_sends(api, alice, chat):
    points.grant_points("alice", 100)
    send_n(api, alice, chat, 20)
    response = api.send(alice, chat, "ok to pay", maxCost=10)
    assert response.status_code == 201
    assert response.json["charged"]["points"] == 10


def test_max_cost_zero_is_fine_while_free(api, alice, chat):
    assert api.send(alice, chat, "free", maxCost=0).status_code == 201


def test_balance_always_equals_ledger_sum(app, api, alice, chat):
    points.grant_points("alice", 35)
    send_n(api, alice, chat, 20)
    statuses = [api.send(alice, chat, f"paid {i}").status_code for i in range(5)]
    assert statuses == [201, 201, 201, 402, 402]
    quota = api.quota(alice).json
    assert quota["pointsBalance"] == 5
    user_id = ledger_rows(alice.id)[0].user_id
    assert points.ledger_sum(user_id) == 5


def test_a_user_without_a_quota_row_gets_one_on_the_first_send(api, alice, chat):
    db.session.execute(sa.delete(MessageQuota).where(MessageQuota.user_id == uuid.UUID(alice.id)))
    db.session.commit()
    response = api.send(alice, chat, "first since quotas")
    assert response.status_code == 201, response.json
    assert response.json["charged"] == {"free": True, "points": 0}
    assert response.json["quota"]["messagesSentToday"] == 1
    rows = db.session.scalars(sa.select(MessageQuota).where(MessageQuota.user_id == uuid.UUID(alice.id)))
    assert [row.messages_sent_today for row in rows] == [1]


def test_paid_send_and_its_ledger_row_agree_on_the_balance(app, api, alice, chat):
    points.grant_points("alice", 25)
    send_n(api, alice, chat, 20)
    balances = [api.send(alice, chat, f"paid {i}").json["quota"]["pointsBalance"] for i in range(2)]
    refused = api.send(alice, chat, "paid 3")
    assert balances == [15, 5]
    assert refused.status_code == 402
    assert refused.json["error"]["balance"] == 5
    charges = [row for row in ledger_rows(alice.id) if row.reason == "message"]
    assert sorted(row.balance_after for row in charges) == [5, 15]
    assert points.ledger_sum(uuid.UUID(alice.id)) == 5
