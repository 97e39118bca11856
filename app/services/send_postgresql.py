"""The PostgreSQL send: quota, wallet, message and ledger in one statement.

One round trip does what the step-by-step send does in five. PostgreSQL runs a
CTE when the statement first reads from it, and the wallet's UPDATE reads from the
quota's, so the locks are taken in the same order as everywhere else: the quota
row first (its UPDATE counts the slot and rolls an earlier day over by date
comparison), then, only for a paid message, the wallet (a guarded UPDATE that
never goes below zero). Under READ COMMITTED a statement
that waited for either lock re-checks its conditions against the newest row, so
concurrent sends of one user are counted and charged one after another.

The statement writes the message only when the sender is in the conversation,
the cost is within the sender's `maxCost` and, for a paid message, the debit
succeeded; the ledger row only when both the debit and the message were written.
The caller commits when `stored` is true and rolls back otherwise: a retry of a
used clientMessageId (ON CONFLICT DO NOTHING) may already have taken a slot and a
debit in this transaction, and the rollback returns them.
"""

from typing import Any

import sqlalchemy as sa

from app import clock
from app.extensions import db
from app.models.types import UTCDateTime, new_id
from app.services import quota
from app.services.conversations import participant_ids
from app.services.send_store import StoreOutcome
from app.settings import BusinessSettings

SEND_IN_ONE_STATEMENT = sa.text(
    """
WITH claim AS (
    UPDATE message_quotas AS q SET
        messages_sent_today =
            CASE WHEN q.quota_date = :today THEN q.messages_sent_today + 1 ELSE 1 END,
        daily_free_limit =
            CASE WHEN q.quota_date = :today THEN q.daily_free_limit ELSE :free_limit END,
        points_per_message =
            CASE WHEN q.quota_date = :today THEN q.points_per_message ELSE :price END,
        quota_date = :today
    WHERE q.user_id = CAST(:sender_id AS uuid)
      AND EXISTS (
        SELECT 1 FROM conversation_participants AS p
        WHERE p.conversation_id = CAST(:conversation_id AS uuid)
          AND p.user_id = CAST(:sender_id AS uuid))
    RETURNING q.messages_sent_today, q.daily_free_limit, q.points_per_message, q.quota_date,
        CASE WHEN q.messages_sent_today <= q.daily_free_limit THEN 0
             ELSE q.points_per_message END AS cost
),
allowed AS (
    SELECT claim.cost FROM claim
    WHERE claim.cost <= COALESCE(CAST(:max_cost AS integer), claim.cost)
),
debit AS (
    UPDATE points_wallets AS w
    SET balance = w.balance - allowed.cost, updated_at = :now
    FROM allowed
    WHERE w.user_id = CAST(:sender_id AS uuid) AND allowed.cost > 0 AND w.balance >= allowed.cost
    RETURNING w.balance
),
message AS (
    INSERT INTO messages (id, conversation_id, sender_id, content, expires_at, is_expired,
        delivered_at, is_read, read_at, client_message_id, points_charged, created_at, updated_at)
    SELECT CAST(:id AS uuid), CAST(:conversation_id AS uuid), CAST(:sender_id AS uuid), :content,
        :expires_at, false, NULL, false, NULL, :client_message_id, allowed.cost, :now, :now
    FROM allowed
    WHERE allowed.cost = 0 OR EXISTS (SELECT 1 FROM debit)
    ON CONFLICT (sender_id, client_message_id) DO NOTHING
    RETURNING id
),
ledger AS (
    INSERT INTO points_transactions (id, user_id, amount, reason, message_id, conversation_id,
        balance_after, created_at)
    SELECT CAST(:ledger_id AS uuid), CAST(:sender_id AS uuid), -allowed.cost, 'message', message.id,
        CAST(:conversation_id AS uuid), debit.balance, :now
    FROM allowed, debit, message
)
SELECT claim.messages_sent_today, claim.daily_free_limit, claim.points_per_message,
    claim.quota_date, claim.cost,
    COALESCE((SELECT balance FROM debit),
             (SELECT balance FROM points_wallets WHERE user_id = CAST(:sender_id AS uuid))) AS balance,
    EXISTS (SELECT 1 FROM message) AS stored,
    ARRAY(SELECT CAST(user_id AS text) FROM conversation_participants
          WHERE conversation_id = CAST(:conversation_id AS uuid)) AS recipients
FROM claim
"""
).bindparams(
    sa.bindparam("now", type_=UTCDateTime()),
    sa.bindparam("expires_at", type_=UTCDateTime()),
)


def store(record: dict[str, Any], max_cost: int | None, settings: BusinessSettings) -> StoreOutcome:
    """Run the one-statement send for `record` (a messages row); commit or roll back after."""
    params = {
        "id": str(record["id"]),
        "conversation_id": str(record["conversation_id"]),
        "sender_id": str(record["sender_id"]),
        "content": record["content"],
        "expires_at": record["expires_at"],
        "client_message_id": record["client_message_id"],
        "now": record["created_at"],
        "today": clock.local_date(record["created_at"], settings.quota_timezone),
        "free_limit": settings.daily_free_messages,
        "price": settings.points_per_message,
        "max_cost": max_cost,
        "ledger_id": str(new_id()),
    }
    row = db.session.execute(SEND_IN_ONE_STATEMENT, params).first()
    if row is None:  # not in the conversation, or a user without a quota row
        db.session.rollback()
        recipients = tuple(str(uid) for uid in participant_ids(record["conversation_id"]))
        if str(record["sender_id"]) not in recipients:
            return StoreOutcome(recipients, None, False)
        quota.create_quota(record["sender_id"], settings)
        db.session.flush()
        row = db.session.execute(SEND_IN_ONE_STATEMENT, params).one()
    claim = quota.QuotaClaim(
        row.messages_sent_today,
        row.daily_free_limit,
        row.points_per_message,
        row.quota_date,
        int(row.balance or 0),
    )
    return StoreOutcome(tuple(row.recipients), claim, bool(row.stored))
