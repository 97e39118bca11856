"""On SQLite, BEGIN IMMEDIATE stands in for row locks: concurrent sends never double-spend."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Message
from app.services import points


@pytest.fixture
def backend():
    """These tests are about SQLite's own serialisation."""
    return "sqlite"


def fire(app, requests):
    """Run (path, json, headers) requests from 16 threads at once; returns the statuses."""

    def one(request):
        path, body, headers = request
        with app.test_client() as client:
            return client.post(path, json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(one, requests))


def test_concurrent_sends_on_sqlite_charge_exactly_what_they_may(app, api, alice, chat):
    for i in range(5):
        api.send(alice, chat, f"warm-up {i}")
    points.grant_points("alice", 55)
    body = {"conversationId": chat, "content": "race"}
    statuses = fire(app, [("/api/messages/send", body, alice.headers)] * 30)
    assert sorted(statuses) == [201] * 20 + [402] * 10
    quota = api.quota(alice).json
    assert quota["messagesSentToday"] == 25
    assert quota["pointsBalance"] == 5
    user_id = db.session.scalar(sa.select(Message.sender_id).limit(1))
    assert points.ledger_sum(user_id) == 5


def test_concurrent_retries_on_sqlite_store_one_message(app, api, alice, chat):
    body = {"conversationId": chat, "content": "once", "clientMessageId": "same-id"}
    statuses = fire(app, [("/api/messages/send", body, alice.headers)] * 12)
    assert sorted(statuses) == [200] * 11 + [201]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1
    assert api.quota(alice).json["messagesSentToday"] == 1
