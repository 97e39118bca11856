"""Storing a send step by step: the portable path (SQLite), one statement at a time.

PostgreSQL does the same in one all-or-nothing statement that commits on its own
(app/services/send_postgresql.py). Both return a StoreOutcome; this path runs in one
write transaction that commits when the message is stored and rolls back otherwise.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.database import write_transaction
from app.extensions import db
from app.models import Message
from app.services import attachments as uploads
from app.services import points, quota
from app.services.conversation_settings import unarchive_for_new_message
from app.services.conversations import participant_ids, take_next_seq
from app.settings import BusinessSettings


@dataclass(frozen=True)
class StoreOutcome:
    """What storing a send did.

    `claim` is None when the sender is not in the conversation; `stored` is true
    when the message (and, for a paid one, the debit and its ledger row) was written,
    with its `seq` and `expires_at` (the chat's timer applied when the sender named
    none); `duplicate` when the sender had used its clientMessageId before;
    `unarchived`, the recipients whose archived conversation the message brought back;
    `attachments`, the uploads the message took (step by step only).
    """

    recipients: tuple[str, ...]  # user ids, as the events address them
    claim: quota.QuotaClaim | None
    stored: bool
    seq: int | None = None
    duplicate: bool = False
    expires_at: datetime | None = None
    unarchived: tuple[str, ...] = ()
    attachments: tuple[Any, ...] = ()


def chat_timer_expiry(record: dict[str, Any], chat_timer: bool, hours: int | None) -> datetime | None:
    """When the message expires: the chat's timer (`hours`) for a send that named no
    expiration, the sender's own choice otherwise."""
    if chat_timer:
        return record["created_at"] + timedelta(hours=hours) if hours else None
    return record["expires_at"]


class _NotStored(Exception):
    """Rolls the send's transaction back, carrying what the caller is told."""

    def __init__(self, outcome: StoreOutcome) -> None:
        self.outcome = outcome


def sender_recipients(record: dict[str, Any]) -> tuple[str, ...] | None:
    """The ids of the conversation's users as events address them, or None when the
    sender is not one of them."""
    recipients = tuple(str(uid) for uid in participant_ids(record["conversation_id"]))
    return recipients if str(record["sender_id"]) in recipients else None


def store_step_by_step(
    record: dict[str, Any],
    max_cost: int | None,
    chat_timer: bool,
    on: date,
    settings: BusinessSettings,
    attachment_ids: Sequence[uuid.UUID] = (),
) -> StoreOutcome:
    """Check the participants, claim a quota slot on day `on`, lock and check the uploads
    to attach, insert, debit a paid message, attach: all in one transaction, rolled back
    unless the message is stored (ValidationFailed, for uploads that cannot be attached,
    rolls it back too)."""
    try:
        with write_transaction():
            return _store(record, max_cost, chat_timer, on, settings, attachment_ids)
    except _NotStored as refused:
        return refused.outcome


def _store(
    record: dict[str, Any],
    max_cost: int | None,
    chat_timer: bool,
    on: date,
    settings: BusinessSettings,
    attachment_ids: Sequence[uuid.UUID],
) -> StoreOutcome:
    recipients = sender_recipients(record)
    if recipients is None:
        return StoreOutcome((), None, False)
    claim = quota.claim_slot(record["sender_id"], on, settings)
    attached: list[Any] = []
    if attachment_ids:
        # The quota row lock serialises the sender's sends: a retry of this clientMessageId
        # now finds the first message (a replay), not its uploads already sent (a refusal).
        if _client_message_id_used(record):
            raise _NotStored(StoreOutcome(recipients, claim, False, duplicate=True))
        locked = uploads.lock_for_send(record["sender_id"], attachment_ids)
        attached = uploads.in_send_order(locked, attachment_ids)
    if max_cost is not None and claim.cost > max_cost:
        raise _NotStored(StoreOutcome(recipients, claim, False))
    seq, hours = db.session.execute(take_next_seq(record["conversation_id"])).one()
    expires_at = chat_timer_expiry(record, chat_timer, hours)
    record = {**record, "points_charged": claim.cost, "seq": seq, "expires_at": expires_at}
    if not _insert_unless_retry(record):
        raise _NotStored(StoreOutcome(recipients, claim, False, duplicate=True))
    if claim.cost:
        balance = points.try_debit(
            record["sender_id"],
            claim.cost,
            "message",
            message_id=record["id"],
            conversation_id=record["conversation_id"],
        )
        if balance is None:
            raise _NotStored(StoreOutcome(recipients, claim, False))
        claim = replace(claim, balance=balance)
    if attached:
        uploads.attach(attached, record["id"])
    unarchived = db.session.scalars(unarchive_for_new_message(record["conversation_id"], record["sender_id"]))
    brought_back = tuple(str(uid) for uid in unarchived)
    return StoreOutcome(recipients, claim, True, seq, False, expires_at, brought_back, tuple(attached))


def _client_message_id_used(record: dict[str, Any]) -> bool:
    """Whether the sender already has a message with this send's clientMessageId."""
    if record["client_message_id"] is None:
        return False
    return (
        db.session.scalar(
            sa.select(Message.id).where(
                Message.sender_id == record["sender_id"],
                Message.client_message_id == record["client_message_id"],
            )
        )
        is not None
    )


def _insert_unless_retry(record: dict[str, Any]) -> bool:
    """Insert the message; False when the sender already used its clientMessageId."""
    if record["client_message_id"] is None or db.session.get_bind().dialect.name != "sqlite":
        db.session.execute(sa.insert(Message).values(**record))
        return True
    statement = (
        sqlite_insert(Message)
        .values(**record)
        .on_conflict_do_nothing(index_elements=["sender_id", "client_message_id"])
        .returning(Message.id)
    )
    return db.session.execute(statement).first() is not None
