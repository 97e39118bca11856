"""Sending a message: the free quota first, then points, all in one transaction."""

import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app import clock
from app.errors import (
    ClientMessageIdReused,
    ConversationNotFound,
    CostExceedsMax,
    InsufficientPoints,
    ValidationFailed,
)
from app.extensions import db
from app.models import Message
from app.models.types import new_id
from app.schemas import MessageOut, QuotaOut, dump
from app.services import points, quota, send_postgresql
from app.services.conversation_settings import updates_for
from app.services.events import Event
from app.services.expiry import is_visible
from app.services.send_postgresql import CLIENT_MESSAGE_ID_UNIQUE
from app.services.send_store import StoreOutcome, store_step_by_step
from app.settings import BusinessSettings


@dataclass(frozen=True)
class MessageDraft:
    """What a sender asks to send."""

    conversation_id: uuid.UUID
    content: str
    expiration_hours: int | None = None
    client_message_id: str | None = None
    max_cost: int | None = None
    chat_timer: bool = False  # no expiration named: the chat's timer applies
    attachment_ids: tuple[uuid.UUID, ...] = ()  # the sender's unsent uploads


@dataclass(frozen=True)
class SendResult:
    """A stored message, what it cost, the quota after it, and the events to publish."""

    message: Message | dict[str, Any]
    created: bool
    charged_free: bool
    charged_points: int
    quota: quota.QuotaView
    events: list[Event] = field(default_factory=list)
    recipient_ids: tuple[uuid.UUID, ...] = ()  # the other participants of a new message


def is_blank(content: str) -> bool:
    """True for text a reader would see as empty: white space and invisible format
    characters (zero-width spaces and joiners, word joiners, BOMs) only."""
    return all(char.isspace() or unicodedata.category(char) == "Cf" for char in content)


def check_draft(draft: MessageDraft, settings: BusinessSettings) -> None:
    """Apply the configured content and expiration rules; raises ValidationFailed."""
    problems = []
    if is_blank(draft.content) and not draft.attachment_ids:
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

    The quota row is locked first and counts the slot; only a paid message locks
    the wallet, debits it (never below zero) and writes its ledger row. On
    PostgreSQL that is one all-or-nothing statement; elsewhere, and for a send with
    attachments everywhere, one statement per step in one write transaction. A retry
    with a used clientMessageId answers with the first message and charges nothing; a
    refusal writes nothing.
    """
    check_draft(draft, settings)
    now = clock.now()
    if draft.attachment_ids:
        return _send_with_attachments(sender_id, draft, settings, now)
    record = _new_record(sender_id, draft, now)
    if db.session.get_bind().dialect.name == "postgresql":
        outcome = send_postgresql.store(record, draft.max_cost, draft.chat_timer, settings)
    else:
        on = quota.today(settings, now)
        outcome = store_step_by_step(record, draft.max_cost, draft.chat_timer, on, settings)
    return _stored(outcome, record, sender_id, draft, settings)


def _new_record(sender_id: uuid.UUID, draft: MessageDraft, now: datetime) -> dict[str, Any]:
    """The messages row a send would insert (seq and the chat timer's expiry come later)."""
    return {
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
        "points_charged": 0,
        "created_at": now,
        "updated_at": now,
    }


def _send_with_attachments(
    sender_id: uuid.UUID, draft: MessageDraft, settings: BusinessSettings, now: datetime
) -> SendResult:
    """A send with attachments goes step by step on every database: in the same write
    transaction as the quota and points it locks the uploads (after the quota row, in id
    order), checks they are the sender's and unsent, and points them at the message. Two
    sends naming one upload attach it once; a refused send leaves the uploads unsent."""
    record = _new_record(sender_id, draft, now)
    on = quota.today(settings, now)
    try:
        outcome = store_step_by_step(
            record, draft.max_cost, draft.chat_timer, on, settings, draft.attachment_ids
        )
    except sa.exc.IntegrityError as error:  # PostgreSQL: the clientMessageId was used meanwhile
        if getattr(getattr(error.orig, "diag", None), "constraint_name", None) != CLIENT_MESSAGE_ID_UNIQUE:
            raise
        outcome = StoreOutcome((), None, False, duplicate=True)
    return _stored(outcome, record, sender_id, draft, settings)


def _stored(
    outcome: StoreOutcome,
    record: dict[str, Any],
    sender_id: uuid.UUID,
    draft: MessageDraft,
    settings: BusinessSettings,
) -> SendResult:
    """The result of a stored send with its events, or the refusal or replay."""
    if not outcome.stored or outcome.claim is None:
        return _refused(outcome, sender_id, draft, settings)
    record["seq"] = outcome.seq
    record["expires_at"] = outcome.expires_at
    record["attachments"] = list(outcome.attachments)

    claim = outcome.claim
    record["points_charged"] = claim.cost
    view = quota.view_claim(claim, settings)
    events = [
        Event("message:new", dump(MessageOut, record), outcome.recipients),
        Event("quota:update", dump(QuotaOut, view), (str(sender_id),)),
        *updates_for(draft.conversation_id, [uuid.UUID(uid) for uid in outcome.unarchived]),
    ]
    others = tuple(uuid.UUID(uid) for uid in outcome.recipients if uid != str(sender_id))
    return SendResult(record, True, claim.cost == 0, claim.cost, view, events, others)


def _refused(
    outcome: StoreOutcome, sender_id: uuid.UUID, draft: MessageDraft, settings: BusinessSettings
) -> SendResult:
    """Why a send stored nothing: a replay of an earlier send, or the error to raise
    (reads only, in the request's session)."""
    if outcome.claim is None and not outcome.duplicate:
        raise ConversationNotFound()
    if draft.client_message_id is not None:
        earlier = db.session.scalar(
            sa.select(Message).where(
                Message.sender_id == sender_id, Message.client_message_id == draft.client_message_id
            )
        )
        if earlier is not None:
            return _replay(earlier, draft, sender_id, settings)
    if outcome.claim is not None:
        cost = outcome.claim.cost
        if draft.max_cost is not None and cost > draft.max_cost:
            raise CostExceedsMax(cost=cost)
        if cost:
            raise InsufficientPoints(required=cost, balance=points.balance_of(sender_id))
    raise ClientMessageIdReused()  # the row it conflicted with is gone


def _replay(
    earlier: Message, draft: MessageDraft, sender_id: uuid.UUID, settings: BusinessSettings
) -> SendResult:
    """Answer a retry with the message first created; charge nothing, emit nothing."""
    if (
        earlier.conversation_id != draft.conversation_id
        or earlier.content != draft.content
        or sorted(attachment.id for attachment in earlier.attachments) != sorted(draft.attachment_ids)
    ):
        raise ClientMessageIdReused()
    if not is_visible(earlier, clock.now()):  # an expired message is gone, even to its sender
        raise ClientMessageIdReused()
    return SendResult(earlier, False, False, 0, quota.get_quota(sender_id, settings))
