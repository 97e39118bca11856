"""Who is typing in which conversation, kept where every process sees it, so that a
socket opened after a reload learns it in the ack of `join`.

A `typing: true` records the time (epoch seconds of app.clock) per conversation and
user; a `typing: false` removes it. A read returns the users whose record is less than
TYPING_TTL_SECONDS old and drops the older ones: no timer ever expires an entry, the
comparison of times when read decides.

With Redis (the deployment's Socket.IO queue, else its rate-limit storage) each
conversation is a hash `<channel>:typing:<conversationId>`, field user id -> time; the
read and the conditional removal are Lua scripts, so a read never drops a record that a
concurrent `typing: true` has just renewed. The key's EXPIRE, ten TTLs after the last
`typing: true`, only guards memory. Without Redis an in-process dict keeps the most
recently written MAX_CONVERSATIONS conversations.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import redis
from flask import current_app

from app import clock
from app.realtime.registry import REDIS_SCHEMES

Now = Callable[[], float]

# The in-memory store forgets the least recently written conversations beyond this many:
# a forgotten entry only makes a reloaded page miss an indicator for a few seconds.
MAX_CONVERSATIONS = 10_000

# Limits storage URIs that name a plain Redis (not redis+sentinel://, redis+cluster://...).
LIMITS_REDIS_SCHEMES = ("redis://", "rediss://")


def epoch_seconds() -> float:
    """Now, as app.clock says, in seconds since the epoch."""
    return clock.now().timestamp()


class TypingState(Protocol):
    ttl: float

    def start(self, conversation_id: str, user_id: str) -> float: ...
    def stop(self, conversation_id: str, user_id: str) -> None: ...
    def stop_if_unchanged(self, conversation_id: str, user_id: str, started_at: float) -> bool: ...
    def typing(self, conversation_id: str) -> list[str]: ...


class MemoryTypingState:
    """Conversation id -> {user id: time of the last `typing: true`}, for a single process."""

    def __init__(
        self, ttl: float, now: Now = epoch_seconds, max_conversations: int = MAX_CONVERSATIONS
    ) -> None:
        self.ttl = ttl
        self.now = now
        self.max_conversations = max_conversations
        self._started: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _fresh(self, users: dict[str, float], now: float) -> dict[str, float]:
        cutoff = now - self.ttl
        return {user: at for user, at in users.items() if at > cutoff}

    def start(self, conversation_id: str, user_id: str) -> float:
        """The user is typing from now on; the time recorded."""
        at = self.now()
        with self._lock:
            users = self._fresh(self._started.pop(conversation_id, {}), at)
            users[user_id] = at
            self._started[conversation_id] = users  # the most recently written, last
            while len(self._started) > self.max_conversations:
                self._started.popitem(last=False)
        return at

    def stop(self, conversation_id: str, user_id: str) -> None:
        """The user stopped typing."""
        with self._lock:
            users = self._started.get(conversation_id)
            if users is not None:
                users.pop(user_id, None)
                if not users:
                    del self._started[conversation_id]

    def stop_if_unchanged(self, conversation_id: str, user_id: str, started_at: float) -> bool:
        """Remove the record made at `started_at` if no later `typing` replaced it;
        True if it was removed while still fresh (the others should be told)."""
        with self._lock:
            users = self._started.get(conversation_id)
            if users is None or users.get(user_id) != started_at:
                return False
            del users[user_id]
            if not users:
                del self._started[conversation_id]
        return started_at > self.now() - self.ttl

    def typing(self, conversation_id: str) -> list[str]:
        """The users typing now (their record is younger than the TTL), sorted."""
        now = self.now()
        with self._lock:
            users = self._started.get(conversation_id)
            if users is None:
                return []
            fresh = self._fresh(users, now)
            if fresh:
                self._started[conversation_id] = fresh
            else:
                del self._started[conversation_id]
        return sorted(fresh)


# KEYS[1] the conversation's hash, ARGV[1] the cutoff: fields at or before it are dropped.
_READ_FRESH = """
local cutoff = tonumber(ARGV[1])
local fresh = {}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if tonumber(entries[i + 1]) > cutoff then
    fresh[#fresh + 1] = entries[i]
  else
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
return fresh
"""

# KEYS[1] the conversation's hash, ARGV[1] the user, ARGV[2] the time the caller recorded.
_DELETE_IF_UNCHANGED = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


class RedisTypingState:
    """One Redis hash per conversation: user id -> time of the last `typing: true`."""

    def __init__(
        self, url: str, ttl: float, prefix: str = "messaging:typing:", now: Now = epoch_seconds
    ) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.ttl = ttl
        self.prefix = prefix
        self.now = now
        self._read_fresh = self.redis.register_script(_READ_FRESH)
        self._delete_if_unchanged = self.redis.register_script(_DELETE_IF_UNCHANGED)

    def key(self, conversation_id: str) -> str:
        """The conversation's hash."""
        return self.prefix + conversation_id

    def start(self, conversation_id: str, user_id: str) -> float:
        """The user is typing from now on; the time recorded."""
        at = self.now()
        key = self.key(conversation_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, user_id, repr(at))
        pipe.expire(key, int(self.ttl * 10) + 60)  # a memory guard; reads compare times
        pipe.execute()
        return at

    def stop(self, conversation_id: str, user_id: str) -> None:
        """The user stopped typing."""
        self.redis.hdel(self.key(conversation_id), user_id)

    def stop_if_unchanged(self, conversation_id: str, user_id: str, started_at: float) -> bool:
        """Remove the record made at `started_at` if no later `typing` replaced it;
        True if it was removed while still fresh (the others should be told)."""
        removed = self._delete_if_unchanged(
            keys=[self.key(conversation_id)], args=[user_id, repr(started_at)]
        )
        return bool(removed) and started_at > self.now() - self.ttl

    def typing(self, conversation_id: str) -> list[str]:
        """The users typing now (their record is younger than the TTL), sorted."""
        cutoff = self.now() - self.ttl
        fresh = self._read_fresh(keys=[self.key(conversation_id)], args=[repr(cutoff)])
        return sorted(user.decode() for user in fresh)


def typing_redis_url(message_queue: str | None, limits_storage: str | None) -> str | None:
    """The Redis every process shares: the Socket.IO queue's, else the rate limits' (None: none)."""
    if message_queue and message_queue.startswith(REDIS_SCHEMES):
        return message_queue
    if limits_storage and limits_storage.startswith(LIMITS_REDIS_SCHEMES):
        return limits_storage
    return None


def make_typing_state(
    message_queue: str | None, limits_storage: str | None, channel: str, ttl: float
) -> TypingState:
    """A Redis store when the deployment has a Redis, else an in-memory one."""
    url = typing_redis_url(message_queue, limits_storage)
    if url is not None:
        return RedisTypingState(url, ttl, prefix=f"{channel}:typing:")
    return MemoryTypingState(ttl)


def current_typing_state() -> TypingState:
    """The store of the running app (made once by the factory)."""
    return current_app.extensions["typing_state"]
