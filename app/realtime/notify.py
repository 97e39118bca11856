"""How the rest of the app reaches sockets, and the only place that emits: events go to
each user's personal room after commit; logout disconnects the sockets of a token."""

import logging
import uuid
from collections.abc import Iterable

from app.extensions import socketio
from app.realtime.registry import current_registry
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


def disconnect_other_sessions(user_id: str, keep_jti: str, until: float) -> None:
    """After a password change: refuse and disconnect the sockets of every other token of
    the user that opened one, on whichever process holds them (tombstones until `until`)."""
    registry = current_registry()
    for jti in registry.user_tokens(user_id):
        if jti != keep_jti:
            disconnect_sockets(jti, registry.revoke(jti, until))


def refuse_new_sockets(jti: str, expires_at: float) -> list[str]:
    """Stop sockets of this token from registering from now on; the ones it has."""
    return current_registry().revoke(jti, expires_at)


def disconnect_sockets(jti: str, sids: list[str]) -> None:
    """Disconnect these sockets of a revoked token, on whichever process holds them."""
    for sid in sids:
        socketio.server.disconnect(sid, namespace="/")
    try:
        current_registry().forget(jti)
    except Exception:  # the tombstone already refuses the token; the set expires with it
        log.warning("could not forget the sockets of a revoked token", exc_info=True)
