"""Which sockets were opened with which token, so logout can disconnect them everywhere.

One process keeps the map in memory; several processes (a Redis message queue)
keep it in Redis, and `server.disconnect(sid)` reaches the process holding the
socket through the queue. A revoked token leaves a tombstone until it would have
expired, and registering a socket checks it in the same atomic step: a socket
that connects while its token is being logged out is either found by the logout
or refused at registration, never left behind.
"""

import threading
import time
from typing import Protocol

import redis
from flask import current_app


class SocketRegistry(Protocol):
    def add(self, jti: str, sid: str, expires_at: float) -> bool: ...
    def remove(self, jti: str, sid: str) -> None: ...
    def revoke(self, jti: str, expires_at: float) -> list[str]: ...
    def forget(self, jti: str) -> None: ...


class MemorySocketRegistry:
    """Token id -> socket ids, for a single process."""

    def __init__(self) -> None:
        self._sids: dict[str, set[str]] = {}
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, jti: str, sid: str, expires_at: float) -> bool:
        """Remember that socket `sid` was opened with token `jti`; False if the token is revoked."""
        with self._lock:
            if jti in self._revoked:
                return False
            self._sids.setdefault(jti, set()).add(sid)
            return True

    def remove(self, jti: str, sid: str) -> None:
        """Forget a socket that disconnected."""
        with self._lock:
            sids = self._sids.get(jti)
            if sids is not None:
                sids.discard(sid)
                if not sids:
                    del self._sids[jti]

    def revoke(self, jti: str, expires_at: float) -> list[str]:
        """Mark the token revoked (no new sockets) and return the sockets it has."""
        now = time.time()
        with self._lock:
            self._revoked = {k: v for k, v in self._revoked.items() if v > now}
            self._revoked[jti] = expires_at
            return sorted(self._sids.get(jti, set()))

    def forget(self, jti: str) -> None:
        """Drop the token's sockets once they were disconnected."""
        with self._lock:
            self._sids.pop(jti, None)


class RedisSocketRegistry:
    """Token id -> socket ids in Redis sets that expire with the token."""

    def __init__(self, url: str, prefix: str = "messaging:socket-token:") -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def _ttl(self, expires_at: float) -> int:
        return max(60, int(expires_at - time.time()) + 60)

    def add(self, jti: str, sid: str, expires_at: float) -> bool:
        """Remember that socket `sid` was opened with token `jti`; False if the token is revoked."""
        key = self.prefix + jti
        pipe = self.redis.pipeline(transaction=True)
        pipe.exists(key + ":revoked")
        pipe.sadd(key, sid)
        pipe.expire(key, self._ttl(expires_at))
        revoked, _, _ = pipe.execute()
        if revoked:
            self.redis.srem(key, sid)
            return False
        return True

    def remove(self, jti: str, sid: str) -> None:
        """Forget a socket that disconnected."""
        self.redis.srem(self.prefix + jti, sid)

    def revoke(self, jti: str, expires_at: float) -> list[str]:
        """Mark the token revoked (no new sockets) and return the sockets it has."""
        key = self.prefix + jti
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(key + ":revoked", 1, ex=self._ttl(expires_at))
        pipe.smembers(key)
        _, members = pipe.execute()
        return sorted(m.decode() for m in members)

    def forget(self, jti: str) -> None:
        """Drop the token's sockets once they were disconnected."""
        self.redis.delete(self.prefix + jti)


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def make_registry(message_queue: str | None, channel: str) -> SocketRegistry:
    """A Redis registry when the deployment has a Redis queue, else an in-memory one."""
    if message_queue and message_queue.startswith(REDIS_SCHEMES):
        return RedisSocketRegistry(message_queue, prefix=f"{channel}:socket-token:")
    return MemorySocketRegistry()


def current_registry() -> SocketRegistry:
    """The registry of the running app (made once by the factory)."""
    return current_app.extensions["socket_registry"]
