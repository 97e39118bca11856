"""The PostgreSQL send: quota, wallet, message and ledger in one all-or-nothing statement.

One round trip does what the step-by-step send does in five, and, since a single
statement is a transaction of its own, it runs without BEGIN and COMMIT. The
statement first locks the sender's quota row (SELECT ... FOR UPDATE, only when the
sender is in the conversation) and prices the send from it with the quota rule of
app/services/quota.py (the same expressions the step-by-step send uses). Only a paid
send then locks the wallet, always after the quota, as every other writer does.
Under READ COMMITTED a lock that had to wait returns the newest row, so concurrent
sends of one user are counted and charged one after another.

The message is stored only when the cost is within the sender's `maxCost` and, for
a paid send, the locked balance covers it; then, and only then, it takes the
conversation's next seq (its row lock orders concurrent sends by commit). The quota
count, the debit and the ledger row are written only when the message was: a refused
send writes nothing at all. A retry of a used clientMessageId fails the whole
statement on the unique constraint, so nothing it did stays, its seq included.
"""

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from app.database import single_statement, write_transaction
from app.models import ConversationParticipant, Message, MessageQuota, PointsTransaction, PointsWallet
from app.models.types import UTCDateTime, new_id
from app.services import points, quota
from app.services.conversation_settings import unarchive_for_new_message
from app.services.conversations import take_next_seq
from app.services.send_store import StoreOutcome, sender_recipients
from app.settings import BusinessSettings

CLIENT_MESSAGE_ID_UNIQUE = "uq_messages_sender_client_message_id"

_param = {
    name: sa.bindparam(name, type_=type_)
    for name, type_ in {
        "id": sa.Uuid(),
        "conversation_id": sa.Uuid(),
        "sender_id": sa.Uuid(),
        "content": sa.Text(),
        "expires_at": UTCDateTime(),
        "chat_timer": sa.Boolean(),
        "client_message_id": sa.String(64),
        "now": UTCDateTime(),
        "today": sa.Date(),
        "free_limit": sa.Integer(),
        "price": sa.Integer(),
        "max_cost": sa.Integer(),
        "ledger_id": sa.Uuid(),
    }.items()
}


def build_send_statement() -> sa.Select:
    """The send as one SELECT whose CTEs lock, price and write (see the module doc)."""
    p = _param
    quotas, wallets = MessageQuota.__table__, PointsWallet.__table__
    participants = ConversationParticipant.__table__
    in_conversation = sa.exists().where(
        participants.c.conversation_id == p["conversation_id"], participants.c.user_id == p["sender_id"]
    )
    locked_quota = (
        sa.select(
            quotas.c.quota_date,
            quotas.c.messages_sent_today,
            quotas.c.daily_free_limit,
            quotas.c.points_per_message,
        )
        .where(quotas.c.user_id == p["sender_id"], in_conversation)
        .with_for_update()
        .cte("quota")
    )
    day = quota.quota_day_sql(locked_quota.c, p["today"], p["free_limit"], p["price"])
    counted = quota.counted_values_sql(day)
    priced = sa.select(
        *(value.label(name) for name, value in counted.items()),
        quota.message_price_sql(
            counted["messages_sent_today"], counted["daily_free_limit"], counted["points_per_message"]
        ).label("cost"),
    ).cte("priced")
    wallet = (
        sa.select(wallets.c.balance, wallets.c.updated_at)
        .where(wallets.c.user_id == p["sender_id"], priced.c.cost > 0)
        .with_for_update(of=wallets)
        .cte("wallet")
    )
    affordable = sa.or_(priced.c.cost == 0, sa.exists().where(wallet.c.balance >= priced.c.cost))
    accepted = sa.and_(priced.c.cost <= sa.func.coalesce(p["max_cost"], priced.c.cost), affordable)
    sequenced = take_next_seq(p["conversation_id"]).where(sa.exists().where(accepted)).cte("sequenced")
    message_columns = {
        "id": p["id"],
        "conversation_id": p["conversation_id"],
        "seq": sequenced.c.last_seq,
        "sender_id": p["sender_id"],
        "content": p["content"],
        "expires_at": sa.case(
            (p["chat_timer"], p["now"] + sa.func.make_interval(0, 0, 0, 0, sequenced.c.expiration_hours)),
            else_=p["expires_at"],
        ),
        "is_expired": sa.false(),
        "delivered_at": sa.null(),
        "is_read": sa.false(),
        "read_at": sa.null(),
        "client_message_id": p["client_message_id"],
        "points_charged": priced.c.cost,
        "created_at": p["now"],
        "updated_at": p["now"],
    }
    message = (
        postgresql.insert(Message.__table__)
        .from_select(
            list(message_columns),
            sa.select(*message_columns.values()).select_from(priced, sequenced),
        )
        .returning(
            Message.__table__.c.id,
            Message.__table__.c.seq,
            Message.__table__.c.points_charged,
            Message.__table__.c.expires_at,
        )
        .cte("message")
    )
    unarchived = (
        unarchive_for_new_message(p["conversation_id"], p["sender_id"])
        .where(message.c.id.is_not(None))
        .cte("unarchived")
    )
    count_it = (
        sa.update(quotas)
        .where(quotas.c.user_id == p["sender_id"], message.c.id.is_not(None))
        .values({name: priced.c[name] for name in counted})
        .cte("counted")
    )
    debit = (
        sa.update(wallets)
        .where(wallets.c.user_id == p["sender_id"], message.c.points_charged > 0)
        .values(
            balance=wallets.c.balance - message.c.points_charged,
            updated_at=points.ledger_time_sql(wallets.c.updated_at, p["now"]),
        )
        .returning(wallets.c.balance, wallets.c.updated_at)
        .cte("debit")
    )
    ledger_columns = {
        "id": p["ledger_id"],
        "user_id": p["sender_id"],
        "amount": -message.c.points_charged,
        "reason": sa.literal("message"),
        "message_id": message.c.id,
        "conversation_id": p["conversation_id"],
        "balance_after": debit.c.balance,
        "created_at": debit.c.updated_at,
    }
    ledger = (
        sa.insert(PointsTransaction.__table__)
        .from_select(list(ledger_columns), sa.select(*ledger_columns.values()))
        .cte("ledger")
    )
    balance = sa.func.coalesce(
        sa.select(debit.c.balance).scalar_subquery(),
        sa.select(wallet.c.balance).scalar_subquery(),
        points.balance_sql(p["sender_id"]),
    )
    recipients = sa.func.array(
        sa.select(sa.cast(participants.c.user_id, sa.Text))
        .where(participants.c.conversation_id == p["conversation_id"])
        .scalar_subquery()
    )
    return sa.select(
        priced.c.quota_date,
        priced.c.messages_sent_today,
        priced.c.daily_free_limit,
        priced.c.points_per_message,
        balance.label("balance"),
        sa.exists(sa.select(message.c.id)).label("stored"),
        sa.select(message.c.seq).scalar_subquery().label("seq"),
        sa.select(message.c.expires_at).scalar_subquery().label("expires_at"),
        recipients.label("recipients"),
        sa.func.array(sa.select(sa.cast(unarchived.c.user_id, sa.Text)).scalar_subquery()).label(
            "unarchived"
        ),
    ).add_cte(count_it, ledger)


def _prepared(statement: sa.Select) -> tuple[str, sa.TextClause, dict[str, Any]]:
    """PREPARE and EXECUTE texts for `statement` and the values of its constants:
    PostgreSQL parses and plans it once per connection, not on every send."""
    dialect = postgresql.psycopg2.dialect()
    compiled = statement.compile(dialect=dialect)
    order = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", compiled.string)))
    body = re.sub(r"%\((\w+)\)s", lambda name: f"${order.index(name[1]) + 1}", compiled.string)
    types = ", ".join(dialect.type_compiler_instance.process(compiled.binds[n].type) for n in order)
    execute = sa.text(f"EXECUTE send_message ({', '.join(':' + name for name in order)})").bindparams(
        *(sa.bindparam(name, type_=compiled.binds[name].type) for name in order)
    )
    constants = {name: compiled.params[name] for name in order if name not in _param}
    return f"PREPARE send_message ({types}) AS {body}", execute, constants


PREPARE_SEND, EXECUTE_SEND, _CONSTANTS = _prepared(build_send_statement())


def store(
    record: dict[str, Any], max_cost: int | None, chat_timer: bool, settings: BusinessSettings
) -> StoreOutcome:
    """Run the one-statement send for `record` (a messages row); it commits on its own.
    With `chat_timer` the message expires after the chat's timer, read under the lock
    that takes its seq."""
    today = quota.today(settings, record["created_at"])
    params = {
        **{name: record[name] for name in ("id", "conversation_id", "sender_id", "content")},
        "expires_at": record["expires_at"],
        "chat_timer": chat_timer,
        "client_message_id": record["client_message_id"],
        "now": record["created_at"],
        "today": today,
        "free_limit": settings.daily_free_messages,
        "price": settings.points_per_message,
        "max_cost": max_cost,
        "ledger_id": new_id(),
    }
    try:
        row = _send(params)
        if row is None:  # not in the conversation, or a user without a quota row
            if sender_recipients(record) is None:
                return StoreOutcome((), None, False)
            with write_transaction():
                quota.create_quota(record["sender_id"], settings)
            row = _send(params)
    except sa.exc.IntegrityError as error:
        if getattr(error.orig.diag, "constraint_name", None) != CLIENT_MESSAGE_ID_UNIQUE:
            raise
        return StoreOutcome((), None, False, duplicate=True)
    day = quota.QuotaDay(
        row.quota_date, row.messages_sent_today, row.daily_free_limit, row.points_per_message
    )
    claim = quota.QuotaClaim(day, int(row.balance or 0))
    return StoreOutcome(
        tuple(row.recipients), claim, bool(row.stored), row.seq, False, row.expires_at, tuple(row.unarchived)
    )


def _send(params: dict[str, Any]) -> Any:
    """Run the prepared send as a statement of its own, preparing it first on a
    connection that has not seen it."""
    with single_statement() as connection:
        if not connection.info.get("send_message_prepared"):
            connection.exec_driver_sql(PREPARE_SEND)
            connection.info["send_message_prepared"] = True
        return connection.execute(EXECUTE_SEND, {**_CONSTANTS, **params}).first()
