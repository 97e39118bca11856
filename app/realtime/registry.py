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
    def add(self, jti: str, sid: str, expires_at: float, user_id: str) -> bool: ...
    def user_tokens(self, user_id: str) -> list[str]: ...
    def online_users(self, user_ids: list[str]) -> set[str]: ...
    def remove(self, jti: str, sid: str) -> None: ...
    def revoke(self, jti: str, expires_at: float) -> list[str]: ...
    def forget(self, jti: str) -> None: ...


class MemorySocketRegistry:
    """Token id -> socket ids, for a single process."""

    def __init__(self) -> None:
        self._sids: dict[str, set[str]] = {}
        self._revoked: dict[str, float] = {}
        self._tokens: dict[str, dict[str, float]] = {}  # user id -> {token id: expires at}
        self._lock = threading.Lock()

    def add(self, jti: str, sid: str, expires_at: float, user_id: str) -> bool:
        """Remember that socket `sid` was opened with token `jti` of `user_id`; False if
        the token is revoked."""
        with self._lock:
            if jti in self._revoked:
                return False
            self._sids.setdefault(jti, set()).add(sid)
            now = time.time()
            tokens = {t: at for t, at in self._tokens.get(user_id, {}).items() if at > now}
            tokens[jti] = expires_at
            self._tokens[user_id] = tokens
            return True

    def user_tokens(self, user_id: str) -> list[str]:
        """The unexpired tokens of the user that opened sockets."""
        now = time.time()
        with self._lock:
            return sorted(t for t, at in self._tokens.get(user_id, {}).items() if at > now)

    def online_users(self, user_ids: list[str]) -> set[str]:
        """Those of the users who hold a connected socket (Web Push skips them)."""
        now = time.time()
        with self._lock:
            return {
                user_id
                for user_id in user_ids
                if any(at > now and self._sids.get(t) for t, at in self._tokens.get(user_id, {}).items())
            }

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

    def __init__(
        self, url: str, prefix: str = "messaging:socket-token:", token_lifetime: float = 86400
    ) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self.token_lifetime = token_lifetime

    def _ttl(self, expires_at: float) -> int:
        return max(60, int(expires_at - time.time()) + 60)

    def add(self, jti: str, sid: str, expires_at: float, user_id: str) -> bool:
        """Remember that socket `sid` was opened with token `jti` of `user_id`; False if
        the token is revoked."""
        key, tokens = self.prefix + jti, self._user_key(user_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.exists(key + ":revoked")
        pipe.sadd(key, sid)
        pipe.expire(key, self._ttl(expires_at))
        pipe.zadd(tokens, {jti: expires_at})
        pipe.zremrangebyscore(tokens, "-inf", time.time())
        pipe.expire(tokens, int(self.token_lifetime) + 60)  # outlives every token it holds
        revoked = pipe.execute()[0]
        if revoked:
            self.redis.srem(key, sid)
            return False
        return True

    def _user_key(self, user_id: str) -> str:
        return f"{self.prefix}user:{user_id}"

    def user_tokens(self, user_id: str) -> list[str]:
        """The unexpired tokens of the user that opened sockets."""
        members = self.redis.zrangebyscore(self._user_key(user_id), time.time(), "+inf")
        return sorted(m.decode() for m in members)

    def online_users(self, user_ids: list[str]) -> set[str]:
        """Those of the users who hold a connected socket on any process (Web Push skips them)."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.zrangebyscore(self._user_key(user_id), now, "+inf")
        tokens = [
            (user_id, m.decode())
            for user_id, members in zip(user_ids, pipe.execute(), strict=True)
            for m in members
        ]
        if not tokens:
            return set()
        pipe = self.redis.pipeline(transaction=False)
        for _user_id, jti in tokens:
            pipe.scard(self.prefix + jti)
        return {user_id for (user_id, _jti), count in zip(tokens, pipe.execute(), strict=True) if count}

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


def make_registry(message_queue: str | None, channel: str, token_lifetime: float = 86400) -> SocketRegistry:
    """A Redis registry when the deployment has a Redis queue, else an in-memory one."""
    if message_queue and message_queue.startswith(REDIS_SCHEMES):
        return RedisSocketRegistry(message_queue, f"{channel}:socket-token:", token_lifetime)
    return MemorySocketRegistry()


def current_registry() -> SocketRegistry:
    """The registry of the running app (made once by the factory)."""
    return current_app.extensions["socket_registry"]
