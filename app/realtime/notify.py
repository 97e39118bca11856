"""The only place that emits: events go to each user's personal room, after commit."""

import logging
import uuid
from collections.abc import Iterable

from app.extensions import socketio
from app.services.events import Event

log = logging.getLogger(__name__)


def user_room(user_id: str) -> str:
    """The room every socket of a user joins."""
    return f"user:{user_id}"


def publish(events: Iterable[Event]) -> None:
    """Emit committed events to the sockets of their users, on every process.

    The data is already committed: if the message queue is down the events are
    lost for live sockets, and clients catch up with `after=` when they reconnect,
    so a failed emit is logged, never turned into a failed request.
    """
    for event in events:
        for user_id in event.user_ids:
            try:
                socketio.emit(event.name, event.payload, to=user_room(user_id))
            except Exception:
                log.warning("could not emit %s to user %s", event.name, user_id, exc_info=True)


def publish_typing(
    conversation_id: uuid.UUID, user_id: uuid.UUID, is_typing: bool, recipients: Iterable[uuid.UUID]
) -> None:
    """Tell the other participants that a user is (or stopped) typing."""
    payload = {"conversationId": str(conversation_id), "userId": str(user_id), "isTyping": is_typing}
    publish([Event("typing", payload, tuple(str(uid) for uid in recipients))])
