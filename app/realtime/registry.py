"""Which sockets were opened with which token, so logout can disconnect them everywhere.

One process keeps the map in memory; several processes (a Redis message queue)
keep it in Redis, and `server.disconnect(sid)` reaches the process holding the
socket through the queue.
"""

import threading
import time
from typing import Protocol

import redis


class SocketRegistry(Protocol):
    def add(self, jti: str, sid: str, expires_at: float) -> None: ...
    def remove(self, jti: str, sid: str) -> None: ...
    def pop(self, jti: str) -> list[str]: ...


class MemorySocketRegistry:
    """Token id -> socket ids, for a single process."""

    def __init__(self) -> None:
        self._sids: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def add(self, jti: str, sid: str, expires_at: float) -> None:
        """Remember that socket `sid` was opened with token `jti`."""
        with self._lock:
            self._sids.setdefault(jti, set()).add(sid)

    def remove(self, jti: str, sid: str) -> None:
        """Forget a socket that disconnected."""
        with self._lock:
            sids = self._sids.get(jti)
            if sids is not None:
                sids.discard(sid)
                if not sids:
                    del self._sids[jti]

    def pop(self, jti: str) -> list[str]:
        """The sockets of a token, forgotten."""
        with self._lock:
            return sorted(self._sids.pop(jti, set()))


class RedisSocketRegistry:
    """Token id -> socket ids in Redis sets that expire with the token."""

    def __init__(self, url: str, prefix: str = "messaging:socket-token:") -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def add(self, jti: str, sid: str, expires_at: float) -> None:
        """Remember that socket `sid` was opened with token `jti`."""
        key = self.prefix + jti
        ttl = max(60, int(expires_at - time.time()) + 60)
        pipe = self.redis.pipeline()
        pipe.sadd(key, sid)
        pipe.expire(key, ttl)
        pipe.execute()

    def remove(self, jti: str, sid: str) -> None:
        """Forget a socket that disconnected."""
        self.redis.srem(self.prefix + jti, sid)

    def pop(self, jti: str) -> list[str]:
        """The sockets of a token, forgotten."""
        key = self.prefix + jti
        pipe = self.redis.pipeline()
        pipe.smembers(key)
        pipe.delete(key)
        members, _ = pipe.execute()
        return sorted(m.decode() for m in members)


def make_registry(message_queue: str | None) -> SocketRegistry:
    """A Redis registry when the deployment has a Redis queue, else an in-memory one."""
    if message_queue and message_queue.startswith(("redis://", "rediss://", "unix://")):
        return RedisSocketRegistry(message_queue)
    return MemorySocketRegistry()
