"""A conversation's settings: archive and mute (each participant's own) and the chat's
disappearing-messages timer (shared by the pair)."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from app import clock
from app.database import read_transaction, write_transaction
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Conversation, ConversationParticipant
from app.schemas import ConversationOut, dump
from app.services.conversations import (
    ConversationView,
    participant_ids,
    require_participant,
    view_conversation,
)
from app.services.events import Event
from app.settings import BusinessSettings


@dataclass(frozen=True)
class SettingsChange:
    """What a participant asks to change; None leaves a setting as it is."""

    archived: bool | None = None
    muted: bool | None = None
    sets_timer: bool = False  # whether expiration_hours was given (None turns the timer off)
    expiration_hours: int | None = None


@dataclass(frozen=True)
class SettingsResult:
    """The conversation as the caller now sees it, and the events to publish."""

    conversation: ConversationView
    events: list[Event] = field(default_factory=list)


def update_settings(
    conversation_id: uuid.UUID, user_id: uuid.UUID, change: SettingsChange, settings: BusinessSettings
) -> SettingsResult:
    """Apply a participant's change. Their own settings reach their own sockets; a new
    timer reaches both participants' (each sees the conversation as they see it)."""
    require_participant(conversation_id, user_id)
    if change.sets_timer:
        _check_timer(change.expiration_hours, settings)
    now = clock.now()
    with write_transaction():
        # The conversation row first, as a send takes it before participant rows.
        timer_changed = change.sets_timer and _set_timer(
            conversation_id, user_id, change.expiration_hours, now
        )
        own_changed = _set_own(conversation_id, user_id, change, now)
    audience = participant_ids(conversation_id) if timer_changed else (user_id,) if own_changed else ()
    events = updates_for(conversation_id, audience)
    with read_transaction():
        return SettingsResult(view_conversation(conversation_id, user_id), events)


def updates_for(conversation_id: uuid.UUID, user_ids: tuple[uuid.UUID, ...] | list[uuid.UUID]) -> list[Event]:
    """A `conversation:update` for each user, with the conversation as that user sees it."""
    if not user_ids:
        return []
    with read_transaction():
        return [
            Event(
                "conversation:update",
                dump(ConversationOut, view_conversation(conversation_id, uid)),
                (str(uid),),
            )
            for uid in user_ids
        ]


def unarchive_for_new_message(conversation_id: object, sender_id: object) -> sa.Update:
    """The UPDATE a stored message runs: it brings the conversation back to the list of
    each other participant who archived it without muting it (RETURNING their ids)."""
    participants = ConversationParticipant.__table__
    return (
        sa.update(participants)
        .where(
            participants.c.conversation_id == conversation_id,
            participants.c.user_id != sender_id,
            participants.c.archived_at.is_not(None),
            participants.c.muted == sa.false(),
        )
        .values(archived_at=None)
        .returning(participants.c.user_id)
    )


def _check_timer(hours: int | None, settings: BusinessSettings) -> None:
    if hours is not None and not settings.min_expiration_hours <= hours <= settings.max_expiration_hours:
        raise ValidationFailed(
            fields=[
                {
                    "field": "expirationHours",
                    "message": f"must be from {settings.min_expiration_hours} "
                    f"to {settings.max_expiration_hours} hours, or null to turn the timer off",
                }
            ]
        )


def _set_timer(conversation_id: uuid.UUID, user_id: uuid.UUID, hours: int | None, now: datetime) -> bool:
    conversation = db.session.get(Conversation, conversation_id, with_for_update=True)
    if conversation is None or conversation.expiration_hours == hours:
        return False
    conversation.expiration_hours = hours
    conversation.expiration_set_by = user_id
    conversation.expiration_set_at = now
    return True


def _set_own(conversation_id: uuid.UUID, user_id: uuid.UUID, change: SettingsChange, now: datetime) -> bool:
    if change.archived is None and change.muted is None:
        return False
    membership = db.session.get(ConversationParticipant, (conversation_id, user_id), with_for_update=True)
    if membership is None:
        return False
    changed = False
    if change.archived is not None and (membership.archived_at is not None) != change.archived:
        membership.archived_at = now if change.archived else None
        changed = True
    if change.muted is not None and membership.muted != change.muted:
        membership.muted = change.muted
        changed = True
    return changed
