"""Socket.IO handlers: authenticate on connect, check joins, relay typing, take delivery acks.

Each handler is a few lines: check the socket's user, call a service, return an ack.
Only notify.py emits.
"""

import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request
from flask_socketio import ConnectionRefusedError, disconnect, join_room
from pydantic import ValidationError

from app.auth.tokens import verify_token
from app.errors import AppError, Unauthorized, describe_unavailable, is_unavailable
from app.extensions import db, socketio
from app.realtime import notify
from app.realtime.registry import current_registry
from app.realtime.schemas import AckPayload, ConversationPayload, TypingPayload
from app.realtime.typing_state import current_typing_state
from app.services import conversations, messaging

log = logging.getLogger(__name__)

UNAVAILABLE = ("service_unavailable", "The service is temporarily unavailable; try again shortly.")
# The conversations a socket remembers having said `typing: true` in (cleared when it
# closes); beyond this many the oldest is forgotten and its indicator just times out.
TYPING_REMEMBERED = 64
Handler = Callable[..., dict[str, Any]]


@dataclass
class SocketUser:
    """Who a connected socket belongs to, and its token."""

    user_id: str
    jti: str
    expires_at: float
    recent_events: dict[str, list[float]]
    # conversation id -> the time its last `typing: true` was recorded, until a false
    typing_since: dict[str, float] = field(default_factory=dict)

    @property
    def user_uuid(self) -> uuid.UUID:
        """The user's id as a UUID."""
        return uuid.UUID(self.user_id)

    def allow(self, kind: str, per_second: int, now: float) -> bool:
        """Count one `kind` event; False once this socket sent `per_second` of them in the last second."""
        times = [t for t in self.recent_events.get(kind, []) if now - t < 1.0]
        allowed = len(times) < per_second
        if allowed:
            times.append(now)
        self.recent_events[kind] = times
        return allowed

    def typed(self, conversation_id: str, started_at: float | None) -> None:
        """Remember this socket's last `typing` in a conversation (None: it said false)."""
        self.typing_since.pop(conversation_id, None)
        if started_at is not None:
            self.typing_since[conversation_id] = started_at
            if len(self.typing_since) > TYPING_REMEMBERED:
                self.typing_since.pop(next(iter(self.typing_since)))


_sockets: dict[str, SocketUser] = {}


def refuse(code: str, message: str) -> ConnectionRefusedError:
    """A connect_error the client can read: `err.message` and `err.data.code`."""
    return ConnectionRefusedError(message, {"code": code, "message": message})


def token_from(auth: Any) -> str | None:
    """The access token from the auth payload, the query string or the web UI cookie."""
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        return auth["token"]
    return request.args.get("token") or request.cookies.get(current_app.config["JWT_ACCESS_COOKIE_NAME"])


def authenticate_socket(auth: Any) -> SocketUser:
    """Verify the socket's token as the REST API does (app.auth.tokens.verify_token)."""
    token = token_from(auth)
    if not token:
        raise refuse("unauthorized", "An access token is required: send it as auth.token.")
    try:
        claims, account = verify_token(token)
    except Unauthorized as error:
        raise refuse(error.code, error.message) from None
    return SocketUser(str(account.id), claims["jti"], float(claims["exp"]), {})


def token_expiry(sid: str) -> float | None:
    """When the token of socket `sid` expires (None for a socket not connected here):
    read on every delivery (app.realtime.manager), so kept in memory since connect."""
    socket = _sockets.get(sid)
    return None if socket is None else socket.expires_at


def current_socket() -> SocketUser | None:
    """The user of the socket that sent the current event; a socket whose token has
    expired is disconnected instead."""
    socket = _sockets.get(request.sid)  # type: ignore[attr-defined]
    if socket is not None and socket.expires_at <= time.time():
        disconnect()
        return None
    return socket


def admit(kind: str) -> tuple[SocketUser | None, dict[str, Any] | None]:
    """The socket of the current event, or the refusal to ack: invalid token or too many events.

    Typing has its own, lower limit; joins, leaves and acks share SOCKET_EVENTS_PER_SECOND,
    so one client cannot flood the server or the other participants.
    """
    socket = current_socket()
    if socket is None:
        return None, _refused("unauthorized", "The socket's token is no longer valid.")
    setting = "TYPING_EVENTS_PER_SECOND" if kind == "typing" else "SOCKET_EVENTS_PER_SECOND"
    if not socket.allow(kind, current_app.config[setting], time.monotonic()):
        return None, _refused("rate_limited", f"Too many {kind} events; slow down.")
    return socket, None


def _unavailable(error: Exception, what: str) -> None:
    log.warning("%s: dependency unavailable: %s", what, describe_unavailable(error))


@socketio.on("connect")
def on_connect(auth: Any = None) -> None:
    """Accept a socket with a valid token; a database or Redis that cannot be reached refuses it."""
    try:
        _connect(auth)
    except ConnectionRefusedError:
        raise
    except Exception as error:
        if not is_unavailable(error):
            raise
        _unavailable(error, "socket connect")
        raise refuse(*UNAVAILABLE) from None


def _connect(auth: Any) -> None:
    """Authenticate the socket, register it with its token and put it in its user's room."""
    socket = authenticate_socket(auth)
    sid = request.sid  # type: ignore[attr-defined]
    if not current_registry().add(socket.jti, sid, socket.expires_at, socket.user_id):  # logged out meanwhile
        raise refuse("token_revoked", "The access token was revoked; log in again.")
    _sockets[sid] = socket
    join_room(notify.user_room(socket.user_id))


@socketio.on("disconnect")
def on_disconnect(reason: Any = None) -> None:
    """Forget the socket, and stop the typing indicators it left on."""
    socket = _sockets.pop(request.sid, None)  # type: ignore[attr-defined]
    if socket is not None:
        try:
            current_registry().remove(socket.jti, request.sid)  # type: ignore[attr-defined]
        except Exception as error:  # the entry expires with the token anyway
            if not is_unavailable(error):
                raise
            _unavailable(error, "socket disconnect")
        try:
            stop_typing(socket)
        except Exception as error:  # the indicators time out anyway
            if not is_unavailable(error):
                raise
            _unavailable(error, "socket disconnect (typing)")
        finally:
            db.session.remove()


def stop_typing(socket: SocketUser) -> None:
    """A closed socket is no longer typing: clear the state it recorded and tell the
    other participants, unless another socket of the user typed there since."""
    typing_state = current_typing_state()
    for conversation_id, started_at in list(socket.typing_since.items()):
        if typing_state.stop_if_unchanged(conversation_id, socket.user_id, started_at):
            conversation = uuid.UUID(conversation_id)
            others = [uid for uid in conversations.participant_ids(conversation) if uid != socket.user_uuid]
            notify.publish_typing(conversation, socket.user_uuid, False, others)
    socket.typing_since.clear()


def _refused(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


def _parse(model: Any, data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def client_event(name: str, payload_model: Any, hint: str) -> Callable[[Handler], Callable[..., Any]]:
    """Register a client event: admit the socket (token, rate), validate the payload,
    turn an AppError (or an unreachable database or Redis) into a refused ack and give
    the connection back afterwards."""

    def register(handler: Handler) -> Callable[..., Any]:
        @functools.wraps(handler)
        def handle(data: Any = None) -> dict[str, Any]:
            socket, refusal = admit(name)
            if refusal or socket is None:
                return refusal or _refused("unauthorized", "The socket's token is no longer valid.")
            payload = _parse(payload_model, data)
            if payload is None:
                return _refused("validation_error", hint)
            try:
                return handler(socket, payload)
            except AppError as error:
                return _refused(error.code, error.message)
            except Exception as error:
                if not is_unavailable(error):
                    raise
                _unavailable(error, f"socket {name}")
                return _refused(*UNAVAILABLE)
            finally:
                db.session.remove()

        return socketio.on(name)(handle)

    return register


@client_event("join", ConversationPayload, "Send {conversationId}.")
def on_join(socket: SocketUser, payload: ConversationPayload) -> dict[str, Any]:
    """Open a conversation: refused for one the user is not in. Events reach the
    user's own room whatever the socket joined. The ack says which other participants
    are typing now (the user's own other tabs are not news to the user)."""
    conversations.require_participant(payload.conversation_id, socket.user_uuid)
    return {"ok": True, "typing": typing_now(payload.conversation_id, socket.user_id)}


def typing_now(conversation_id: uuid.UUID, viewer_id: str) -> list[str]:
    """The participants other than the viewer typing in the conversation now; none when
    the store cannot be reached (the indicator is a nicety, opening the conversation is not)."""
    try:
        typing = current_typing_state().typing(str(conversation_id))
    except Exception as error:
        if not is_unavailable(error):
            raise
        _unavailable(error, "socket join (typing)")
        return []
    participants = {str(uid) for uid in conversations.participant_ids(conversation_id)}
    return [user_id for user_id in typing if user_id != viewer_id and user_id in participants]


@client_event("leave", ConversationPayload, "Send {conversationId}.")
def on_leave(socket: SocketUser, payload: ConversationPayload) -> dict[str, Any]:
    """Close a conversation: nothing to undo, as events go to the user's own room."""
    return {"ok": True}


@client_event("typing", TypingPayload, "Send {conversationId, isTyping}.")
def on_typing(socket: SocketUser, payload: TypingPayload) -> dict[str, Any]:
    """Record the typing state (for joins to come) and relay it to the other participants."""
    participants = conversations.participant_ids(payload.conversation_id)
    if socket.user_uuid not in participants:
        return _refused("conversation_not_found", "No such conversation.")
    record_typing(socket, str(payload.conversation_id), payload.is_typing)
    others = [uid for uid in participants if uid != socket.user_uuid]
    notify.publish_typing(payload.conversation_id, socket.user_uuid, payload.is_typing, others)
    return {"ok": True}


def record_typing(socket: SocketUser, conversation_id: str, is_typing: bool) -> None:
    """Keep the user's typing state where every process sees it; an unreachable store
    only costs a reloaded page the indicator, so the relay still goes out."""
    typing_state = current_typing_state()
    try:
        if is_typing:
            socket.typed(conversation_id, typing_state.start(conversation_id, socket.user_id))
        else:
            socket.typed(conversation_id, None)
            typing_state.stop(conversation_id, socket.user_id)
    except Exception as error:
        if not is_unavailable(error):
            raise
        _unavailable(error, "socket typing")


@client_event("message:ack", AckPayload, "Send {messageIds: [id, ...]} (1 to 500 ids).")
def on_message_ack(socket: SocketUser, payload: AckPayload) -> dict[str, Any]:
    """This socket received these messages: set deliveredAt once and tell the senders."""
    events = messaging.mark_delivered(socket.user_uuid, payload.message_ids)
    notify.publish(events)
    return {"ok": True, "delivered": sum(len(e.payload["messageIds"]) for e in events)}
