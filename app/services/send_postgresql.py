"""The PostgreSQL send: quota, wallet, message and ledger in one all-or-nothing statement.

One round trip does what the step-by-step send does in five, and, since a single
statement is a transaction of its own, it runs without BEGIN and COMMIT. The
statement first locks the sender's quota row (SELECT ... FOR UPDATE, only when the
sender is in the conversation) and prices the send from it: the day rolls over by
date comparison, never by a timer. Only a paid send then locks the wallet, always
after the quota, as every other writer does. Under READ COMMITTED a lock that had
to wait returns the newest row, so concurrent sends of one user are counted and
charged one after another.

The message is inserted only when the cost is within the sender's `maxCost` and,
for a paid send, the locked balance covers it; ON CONFLICT DO NOTHING turns a
retry of a used clientMessageId into no insert. The quota count, the debit and the
ledger row are written only when the message was: a refused or replayed send
writes nothing at all, so there is nothing to roll back.
"""

import re
from typing import Any

import sqlalchemy as sa

from app import clock
from app.database import statement_connection
from app.extensions import db
from app.models.types import UTCDateTime, new_id
from app.services import quota
from app.services.send_store import StoreOutcome, sender_recipients
from app.settings import BusinessSettings

# The statement's parameters, in the order of PREPARE's $1, $2, ... and their types.
_PARAMETERS = {
    "id": "uuid",
    "conversation_id": "uuid",
    "sender_id": "uuid",
    "content": "text",
    "expires_at": "timestamptz",
    "client_message_id": "varchar",
    "now": "timestamptz",
    "today": "date",
    "free_limit": "integer",
    "price": "integer",
    "max_cost": "integer",
    "ledger_id": "uuid",
}

_SEND_SQL = """
WITH quota AS (
    SELECT q.messages_sent_today, q.daily_free_limit, q.points_per_message, q.quota_date
    FROM message_quotas AS q
    WHERE q.user_id = :sender_id
      AND EXISTS (
        SELECT 1 FROM conversation_participants AS p
        WHERE p.conversation_id = :conversation_id
          AND p.user_id = :sender_id)
    FOR UPDATE
),
claim AS (
    SELECT
        CASE WHEN quota_date = :today THEN messages_sent_today + 1 ELSE 1 END AS sent,
        CASE WHEN quota_date = :today THEN daily_free_limit ELSE :free_limit END AS free_limit,
        CASE WHEN quota_date = :today THEN points_per_message ELSE :price END AS price
    FROM quota
),
priced AS (
    SELECT sent, free_limit, price, CASE WHEN sent <= free_limit THEN 0 ELSE price END AS cost
    FROM claim
),
wallet AS (
    SELECT w.balance FROM points_wallets AS w, priced
    WHERE w.user_id = :sender_id AND priced.cost > 0
    FOR UPDATE OF w
),
message AS (
    INSERT INTO messages (id, conversation_id, sender_id, content, expires_at, is_expired,
        delivered_at, is_read, read_at, client_message_id, points_charged, created_at, updated_at)
    SELECT :id, :conversation_id, :sender_id, :content,
        :expires_at, false, NULL, false, NULL, :client_message_id, priced.cost, :now, :now
    FROM priced
    WHERE priced.cost <= COALESCE(:max_cost, priced.cost)
      AND (priced.cost = 0 OR EXISTS (SELECT 1 FROM wallet WHERE wallet.balance >= priced.cost))
    ON CONFLICT (sender_id, client_message_id) DO NOTHING
    RETURNING id, points_charged
),
counted AS (
    UPDATE message_quotas AS q
    SET messages_sent_today = priced.sent, daily_free_limit = priced.free_limit,
        points_per_message = priced.price, quota_date = :today
    FROM priced, message
    WHERE q.user_id = :sender_id
),
debit AS (
    UPDATE points_wallets AS w
    SET balance = w.balance - message.points_charged, updated_at = :now
    FROM message
    WHERE w.user_id = :sender_id AND message.points_charged > 0
    RETURNING w.balance
),
ledger AS (
    INSERT INTO points_transactions (id, user_id, amount, reason, message_id, conversation_id,
        balance_after, created_at)
    SELECT :ledger_id, :sender_id, -message.points_charged, 'message',
        message.id, :conversation_id, debit.balance, :now
    FROM message, debit
)
SELECT priced.sent, priced.free_limit, priced.price, priced.cost,
    COALESCE((SELECT balance FROM debit), (SELECT balance FROM wallet),
             (SELECT balance FROM points_wallets WHERE user_id = :sender_id)) AS balance,
    EXISTS (SELECT 1 FROM message) AS stored,
    ARRAY(SELECT CAST(user_id AS text) FROM conversation_participants
          WHERE conversation_id = :conversation_id) AS recipients
FROM priced
"""

# Prepared once per connection (on its first send): PostgreSQL parses and plans the
# statement once, not on every send.
PREPARE_SEND = "PREPARE send_message ({types}) AS {body}".format(
    types=", ".join(_PARAMETERS.values()),
    body=re.sub(r":(\w+)", lambda name: f"${list(_PARAMETERS).index(name[1]) + 1}", _SEND_SQL),
)
EXECUTE_SEND = sa.text(f"EXECUTE send_message ({', '.join(':' + name for name in _PARAMETERS)})").bindparams(
    sa.bindparam("now", type_=UTCDateTime()),
    sa.bindparam("expires_at", type_=UTCDateTime()),
)


def _execute_send(connection: sa.Connection, params: dict[str, Any]) -> Any:
    """Run the prepared send, preparing it first on a connection that has not seen it."""
    if not connection.info.get("send_message_prepared"):
        connection.exec_driver_sql(PREPARE_SEND)
        connection.info["send_message_prepared"] = True
    return connection.execute(EXECUTE_SEND, params).first()


def store(record: dict[str, Any], max_cost: int | None, settings: BusinessSettings) -> StoreOutcome:
    """Run the one-statement send for `record` (a messages row); it commits on its own."""
    today = clock.local_date(record["created_at"], settings.quota_timezone)
    params = {
        "id": str(record["id"]),
        "conversation_id": str(record["conversation_id"]),
        "sender_id": str(record["sender_id"]),
        "content": record["content"],
        "expires_at": record["expires_at"],
        "client_message_id": record["client_message_id"],
        "now": record["created_at"],
        "today": today,
        "free_limit": settings.daily_free_messages,
        "price": settings.points_per_message,
        "max_cost": max_cost,
        "ledger_id": str(new_id()),
    }
    with statement_connection() as connection:
        row = _execute_send(connection, params)
    if row is None:  # not in the conversation, or a user without a quota row
        if sender_recipients(record) is None:
            return StoreOutcome((), None, False)
        quota.create_quota(record["sender_id"], settings)
        db.session.commit()
        with statement_connection() as connection:
            row = _execute_send(connection, params)
    claim = quota.QuotaClaim(row.sent, row.free_limit, row.price, today, int(row.balance or 0))
    return StoreOutcome(tuple(row.recipients), claim, bool(row.stored))
