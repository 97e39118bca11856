"""Socket.IO client managers that deliver nothing to a socket whose token has expired.

Every event reaches the sockets of a room through the manager's `get_participants`,
on the process that holds them, whichever process emitted it (through the Redis
queue too). There each socket's token expiry, kept in memory since connect, is
compared with the clock: a socket whose token has expired gets nothing and is
disconnected there and then. No timer runs; a socket that is never sent anything
is disconnected when it next sends an event (app.realtime.events.current_socket).
"""

import time
from collections.abc import Callable, Iterator
from typing import Any

import socketio

from app.realtime.registry import REDIS_SCHEMES

TokenExpiry = Callable[[str], float | None]


class ExpiringSockets:
    """Mixin for a python-socketio manager: `token_expiry(sid)` says when a socket's
    token expires (None: not known, e.g. not connected yet)."""

    server: Any

    def __init__(self, *args: Any, token_expiry: TokenExpiry, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token_expiry = token_expiry

    def get_participants(self, namespace: str, room: Any) -> Iterator[tuple[str, str]]:
        """The room's sockets on this process whose token is still valid; then
        disconnect the others (this process holds them, so not through the queue)."""
        now = time.time()
        expired = []
        for sid, eio_sid in super().get_participants(namespace, room):  # type: ignore[misc]
            expires_at = self.token_expiry(sid)
            if expires_at is not None and expires_at <= now:
                expired.append(sid)
            else:
                yield sid, eio_sid
        for sid in expired:
            self.server.disconnect(sid, namespace=namespace, ignore_queue=True)


class ExpiringManager(ExpiringSockets, socketio.Manager):
    """One process."""


class ExpiringRedisManager(ExpiringSockets, socketio.RedisManager):
    """Several processes on a Redis queue."""


def make_client_manager(message_queue: str | None, channel: str, token_expiry: TokenExpiry) -> Any:
    """The manager for the deployment: on the Redis queue when one is set."""
    if not message_queue:
        return ExpiringManager(token_expiry=token_expiry)
    if not message_queue.startswith(REDIS_SCHEMES):
        raise ValueError("SOCKETIO_MESSAGE_QUEUE must be a redis://, rediss:// or unix:// URL")
    return ExpiringRedisManager(message_queue, channel=channel, token_expiry=token_expiry)
