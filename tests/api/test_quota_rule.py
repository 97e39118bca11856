"""The quota rule (app/services/quota.py) through every path that applies it, on both databases.

The same table runs through the quota view (GET /api/messages/quota), a send (the
one-statement send on PostgreSQL, the step-by-step send on SQLite) and the
step-by-step claim on its own, so the Python and SQL twins of the rule cannot drift.
"""

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.database import write_transaction
from app.extensions import db
from app.models import MessageQuota
from app.services import points, quota
from app.settings import business_settings

TODAY = date(2026, 11, 25)  # the clock fixture's day (QUOTA_TIMEZONE is UTC)


@dataclass(frozen=True)
class Case:
    """A quota row, the settings of the moment, and what every path must agree on."""

    name: str
    row: tuple[int, int, int, int]  # sent, days from today, free limit, price
    settings: tuple[int, int]  # DAILY_FREE_MESSAGES, POINTS_PER_MESSAGE now
    shown: tuple[int, int, int]  # sent, free limit, next message cost, as the view shows them
    charged: int  # what the next send costs
    after: tuple[int, int]  # sent, days from today of the row after the send


CASES = [
    Case("same day, under the limit", (5, 0, 20, 10), (20, 10), (5, 20, 0), 0, (6, 0)),
    Case("same day, at the limit", (20, 0, 20, 10), (20, 10), (20, 20, 10), 10, (21, 0)),
    Case("same day, one before the limit", (19, 0, 20, 10), (20, 10), (19, 20, 0), 0, (20, 0)),
    Case("limits lowered in the middle of a day", (5, 0, 20, 10), (3, 7), (5, 20, 0), 0, (6, 0)),
    Case("limits raised in the middle of a day", (5, 0, 5, 10), (50, 3), (5, 5, 10), 10, (6, 0)),
    Case("a new day", (20, -1, 20, 10), (20, 10), (0, 20, 0), 0, (1, 0)),
    Case("a new day after weeks", (40, -30, 20, 10), (20, 10), (0, 20, 0), 0, (1, 0)),
    Case("a new day takes the changed limits", (3, -1, 20, 10), (2, 7), (0, 2, 0), 0, (1, 0)),
    Case("a new day with no free messages", (0, -1, 20, 10), (0, 7), (0, 0, 7), 7, (1, 0)),
    Case("a row dated in the future keeps its count", (20, 1, 20, 10), (20, 10), (20, 20, 10), 10, (21, 1)),
    Case("a future row under its limit", (2, 2, 20, 10), (1, 5), (2, 20, 0), 0, (3, 2)),
]


def set_quota(app, user_id: str, case: Case) -> None:
    sent, days, limit, price = case.row
    db.session.execute(
        sa.update(MessageQuota)
        .where(MessageQuota.user_id == uuid.UUID(user_id))
        .values(
            messages_sent_today=sent,
            quota_date=TODAY + timedelta(days=days),
            daily_free_limit=limit,
            points_per_message=price,
        )
    )
    db.session.commit()
    app.config["DAILY_FREE_MESSAGES"], app.config["POINTS_PER_MESSAGE"] = case.settings


def stored_quota(user_id: str) -> tuple[int, int]:
    db.session.rollback()
    row = db.session.scalar(sa.select(MessageQuota).where(MessageQuota.user_id == uuid.UUID(user_id)))
    return row.messages_sent_today, (row.quota_date - TODAY).days


@pytest.fixture
def funded(clock, app, api, alice, bob, chat):
    points.grant_points("alice", 100)
    return alice, chat


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_the_view_shows_what_the_rule_says(app, api, funded, case):
    alice, _chat = funded
    set_quota(app, alice.id, case)
    shown = api.quota(alice).json
    assert (shown["messagesSentToday"], shown["dailyFreeLimit"], shown["nextMessageCost"]) == case.shown
    assert shown["freeRemaining"] == max(0, case.shown[1] - case.shown[0])
    row_day = TODAY + timedelta(days=max(case.row[1], 0))
    assert shown["quotaDate"] == row_day.isoformat()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_send_charges_what_the_view_announced(app, api, funded, case):
    alice, chat = funded
    set_quota(app, alice.id, case)
    announced = api.quota(alice).json["nextMessageCost"]
    response = api.send(alice, chat, "priced by the rule")
    assert response.status_code == 201, response.json
    assert response.json["charged"] == {"free": case.charged == 0, "points": case.charged}
    assert announced == case.charged
    assert response.json["quota"]["pointsBalance"] == 100 - case.charged
    assert response.json["quota"]["messagesSentToday"] == case.after[0]
    assert stored_quota(alice.id) == case.after


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_the_step_by_step_claim_agrees(app, funded, case):
    alice, _chat = funded
    set_quota(app, alice.id, case)
    with app.test_request_context(), pytest.raises(_RolledBack), write_transaction():
        claim = quota.claim_slot(uuid.UUID(alice.id), TODAY, business_settings())
        assert claim.cost == case.charged
        assert (claim.day.sent, (claim.day.day - TODAY).days) == case.after
        raise _RolledBack
    assert stored_quota(alice.id) == (case.row[0], case.row[1])


class _RolledBack(Exception):
    """Ends the claim's transaction without writing."""


def test_the_python_and_sql_prices_agree_on_every_boundary():
    rows = [(number, limit, price) for number in range(5) for limit in range(4) for price in (0, 1, 10)]
    python = [quota.message_price(*row) for row in rows]
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        sql = [connection.scalar(sa.select(quota.message_price_sql(*map(sa.literal, row)))) for row in rows]
    assert python == sql
