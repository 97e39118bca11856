"""Messages: fetching pages, sending under the quota and wallet locks, read receipts."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app import clock
from app.database import begin_write
from app.errors import (
    ClientMessageIdReused,
    ConversationNotFound,
    CostExceedsMax,
    InvalidCursor,
    ValidationFailed,
)
from app.extensions import db
from app.models import ConversationParticipant, Message
from app.models.types import new_id
from app.schemas import MessageOut, QuotaOut, dump
from app.services import points, quota
from app.services.conversations import participant_ids, require_participant
from app.services.events import Event
from app.services.expiry import visible_at
from app.settings import BusinessSettings


@dataclass(frozen=True)
class MessageDraft:
    """What a sender asks to send."""

    conversation_id: uuid.UUID
    content: str
    expiration_hours: int | None = None
    client_message_id: str | None = None
    max_cost: int | None = None


@dataclass(frozen=True)
class SendResult:
    """A stored message, what it cost, the quota after it, and the events to publish."""

    message: Message | dict[str, Any]
    created: bool
    charged_free: bool
    charged_points: int
    quota: quota.QuotaView
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class MessagePage:
    """A page of messages, oldest first."""

    messages: list[Message]
    has_more: bool
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class ReadResult:
    """Messages newly marked read."""

    updated: int
    read_at: datetime | None
    message_ids: list[uuid.UUID]
    events: list[Event] = field(default_factory=list)


def check_draft(draft: MessageDraft, settings: BusinessSettings) -> None:
    """Apply the configured content and expiration rules; raises ValidationFailed."""
    problems = []
    if not draft.content.strip():
        problems.append({"field": "content", "message": "must not be blank"})
    elif len(draft.content) > settings.max_message_length:
        problems.append(
            {"field": "content", "message": f"must be at most {settings.max_message_length} characters"}
        )
    hours = draft.expiration_hours
    if hours is not None and not settings.min_expiration_hours <= hours <= settings.max_expiration_hours:
        problems.append(
            {
                "field": "expirationHours",
                "message": f"must be from {settings.min_expiration_hours} "
                f"to {settings.max_expiration_hours} hours",
            }
        )
    if problems:
        raise ValidationFailed(fields=problems)


def send_message(sender_id: uuid.UUID, draft: MessageDraft, settings: BusinessSettings) -> SendResult:
    """Store a message, taking a free slot or debiting points, all in one transaction.

    Few round trips: one read of the participants, then the quota row is locked,
    rolled over and counted by a single UPDATE; the message insert detects a
    clientMessageId retry (ON CONFLICT DO NOTHING); only a paid message adds the
    guarded wallet debit (which locks the wallet, always after the quota) and its
    ledger row. Any refusal rolls the whole transaction back.
    """
    check_draft(draft, settings)
    recipients = participant_ids(draft.conversation_id)
    if sender_id not in recipients:
        db.session.rollback()
        raise ConversationNotFound()
    begin_write()
    claim = quota.claim_slot(sender_id, settings)
    now = clock.now()
    record = {
        "id": new_id(),
        "conversation_id": draft.conversation_id,
        "sender_id": sender_id,
        "content": draft.content,
        "expires_at": now + timedelta(hours=draft.expiration_hours) if draft.expiration_hours else None,
        "is_expired": False,
        "delivered_at": None,
        "is_read": False,
        "read_at": None,
        "client_message_id": draft.client_message_id,
        "points_charged": claim.cost,
        "created_at": now,
        "updated_at": now,
    }
    if not _insert_unless_retry(record):
        db.session.rollback()  # undo the quota slot taken above
        earlier = _by_client_message_id(sender_id, draft.client_message_id or "")
        if earlier is None:  # pragma: no cover - the conflict names this row
            raise ClientMessageIdReused()
        return _replay(earlier, draft, sender_id, settings)
    if draft.max_cost is not None and claim.cost > draft.max_cost:
        raise CostExceedsMax(cost=claim.cost)
    balance = claim.balance
    if claim.cost:
        balance = points.debit(
            sender_id, claim.cost, "message", message_id=record["id"], conversation_id=draft.conversation_id
        )
    db.session.commit()

    view = quota.view_claim(claim, balance, settings)
    events = [
        Event("message:new", dump(MessageOut, record), tuple(str(uid) for uid in recipients)),
        Event("quota:update", dump(QuotaOut, view), (str(sender_id),)),
    ]
    return SendResult(record, True, claim.cost == 0, claim.cost, view, events)


def _insert_unless_retry(record: dict[str, Any]) -> bool:
    """Insert the message; False when the sender already used its clientMessageId."""
    dialect = db.session.get_bind().dialect.name
    if record["client_message_id"] is None or dialect not in {"postgresql", "sqlite"}:
        db.session.execute(sa.insert(Message).values(**record))
        return True
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Message)
        .values(**record)
        .on_conflict_do_nothing(index_elements=["sender_id", "client_message_id"])
        .returning(Message.id)
    )
    return db.session.execute(statement).first() is not None


def _by_client_message_id(sender_id: uuid.UUID, client_message_id: str) -> Message | None:
    return db.session.scalar(
        sa.select(Message).where(
            Message.sender_id == sender_id, Message.client_message_id == client_message_id
        )
    )


def _replay(
    earlier: Message, draft: MessageDraft, sender_id: uuid.UUID, settings: BusinessSettings
) -> SendResult:
    """Answer a retry with the message first created; charge nothing, emit nothing."""
    if earlier.conversation_id != draft.conversation_id or earlier.content != draft.content:
        db.session.rollback()
        raise ClientMessageIdReused()
    db.session.commit()
    return SendResult(earlier, False, False, 0, quota.get_quota(sender_id, settings))


def fetch_messages(
    viewer_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    limit: int,
    before: uuid.UUID | None = None,
    after: uuid.UUID | None = None,
) -> MessagePage:
    """A page of visible messages, oldest first; also marks others' messages delivered."""
    if before is not None and after is not None:
        raise InvalidCursor("Give either before or after, not both.")
    require_participant(conversation_id, viewer_id)
    now = clock.now()
    query = sa.select(Message).where(Message.conversation_id == conversation_id, visible_at(now))
    order = (Message.created_at, Message.id)
    cursor_id = before or after
    if cursor_id is not None:
        cursor = db.session.execute(
            sa.select(Message.created_at, Message.id).where(
                Message.id == cursor_id, Message.conversation_id == conversation_id
            )
        ).first()
        if cursor is None:
            raise InvalidCursor()
        position = sa.tuple_(*order)
        query = query.where(position > tuple(cursor) if after else position < tuple(cursor))
    ascending = after is not None
    query = query.order_by(*(c.asc() if ascending else c.desc() for c in order)).limit(limit + 1)
    rows = list(db.session.scalars(query))
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not ascending:
        rows.reverse()
    events = _mark_delivered(viewer_id, conversation_id, rows, now)
    return MessagePage(rows, has_more, events)


def _mark_delivered(
    viewer_id: uuid.UUID, conversation_id: uuid.UUID, rows: list[Message], now: datetime
) -> list[Event]:
    """Set deliveredAt once on others' messages the viewer has now received."""
    undelivered = [m.id for m in rows if m.sender_id != viewer_id and m.delivered_at is None]
    if not undelivered:
        db.session.commit()
        return []
    return mark_delivered(viewer_id, undelivered, conversation_id=conversation_id, at=now)


def mark_delivered(
    recipient_id: uuid.UUID,
    message_ids: list[uuid.UUID],
    *,
    conversation_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> list[Event]:
    """Set deliveredAt on messages sent to the recipient that do not have it yet."""
    at = at or clock.now()
    conditions = [
        Message.id.in_(message_ids),
        Message.sender_id != recipient_id,
        Message.delivered_at.is_(None),
        Message.conversation_id.in_(
            sa.select(ConversationParticipant.conversation_id).where(
                ConversationParticipant.user_id == recipient_id
            )
        ),
    ]
    if conversation_id is not None:
        conditions.append(Message.conversation_id == conversation_id)
    updated = db.session.execute(
        sa.update(Message)
        .where(*conditions)
        .values(delivered_at=at)
        .returning(Message.id, Message.sender_id, Message.conversation_id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return _receipt_events("message:delivered", updated, {"deliveredAt": _iso(at)})


def mark_read(
    reader_id: uuid.UUID, conversation_id: uuid.UUID, message_ids: list[uuid.UUID] | None
) -> ReadResult:
    """Mark others' unread, visible messages as read (all of them when no ids are given)."""
    require_participant(conversation_id, reader_id)
    now = clock.now()
    conditions = [
        Message.conversation_id == conversation_id,
        Message.sender_id != reader_id,
        Message.is_read == sa.false(),
        visible_at(now),
    ]
    if message_ids is not None:
        conditions.append(Message.id.in_(message_ids))
    updated = db.session.execute(
        sa.update(Message)
        .where(*conditions)
        .values(
            is_read=True,
            read_at=now,
            delivered_at=sa.func.coalesce(Message.delivered_at, now),
            updated_at=now,
        )
        .returning(Message.id, Message.sender_id, Message.conversation_id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    events = _receipt_events("message:read", updated, {"readerId": str(reader_id), "readAt": _iso(now)})
    ids = [row.id for row in updated]
    return ReadResult(len(ids), now if ids else None, ids, events)


def _receipt_events(name: str, rows: list, extra: dict) -> list[Event]:
    """One receipt event per (sender, conversation), listing the message ids."""
    grouped: dict[tuple[uuid.UUID, uuid.UUID], list[str]] = {}
    for row in rows:
        grouped.setdefault((row.sender_id, row.conversation_id), []).append(str(row.id))
    return [
        Event(name, {"conversationId": str(cid), "messageIds": ids, **extra}, (str(sender),))
        for (sender, cid), ids in grouped.items()
    ]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
