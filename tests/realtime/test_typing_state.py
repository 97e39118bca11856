"""The typing-state store (app.realtime.typing_state), in memory and on a real Redis.

Time comes from the test clock: a record counts while it is younger than the TTL and is
dropped when read after that, with no timer involved.
"""

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from support.databases import RedisDatabase
from support.pytest_live import require_redis

from app.realtime.typing_state import (
    MemoryTypingState,
    RedisTypingState,
    TypingState,
    make_typing_state,
    typing_redis_url,
)

TTL = 6


@pytest.fixture(scope="module")
def redis_db() -> Iterator[RedisDatabase]:
    """A Redis database of this module's own, flushed at the end."""
    require_redis()
    claimed = RedisDatabase()
    yield claimed
    claimed.release()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.server)])
def store(request: pytest.FixtureRequest, clock: Any) -> TypingState:
    """Each backend, with a TTL of 6 s, on the test clock (a Redis one under a prefix of its own)."""
    if request.param == "memory":
        return MemoryTypingState(TTL)
    redis_db = request.getfixturevalue("redis_db")
    return RedisTypingState(redis_db.url, TTL, prefix=f"test-{uuid.uuid4().hex}:typing:")


def ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def test_a_typing_true_is_listed_until_a_false(store: TypingState) -> None:
    conversation, (alice, bob) = str(uuid.uuid4()), ids(2)
    assert store.typing(conversation) == []
    store.start(conversation, alice)
    store.start(conversation, bob)
    assert store.typing(conversation) == sorted([alice, bob])
    store.stop(conversation, alice)
    assert store.typing(conversation) == [bob]
    store.stop(conversation, bob)
    store.stop(conversation, bob)  # a second false changes nothing
    assert store.typing(conversation) == []


def test_a_record_counts_for_less_than_the_ttl(store: TypingState, clock: Any) -> None:
    conversation, (alice,) = str(uuid.uuid4()), ids(1)
    store.start(conversation, alice)
    clock.shift(timedelta(seconds=TTL - 0.001))
    assert store.typing(conversation) == [alice]
    clock.shift(timedelta(seconds=0.001))  # exactly TTL after the typing: true
    assert store.typing(conversation) == []
    clock.shift(timedelta(seconds=-1))  # dropped when read: it does not come back
    assert store.typing(conversation) == []


def test_a_new_typing_true_renews_the_record(store: TypingState, clock: Any) -> None:
    conversation, (alice,) = str(uuid.uuid4()), ids(1)
    store.start(conversation, alice)
    clock.shift(timedelta(seconds=5))
    store.start(conversation, alice)
    clock.shift(timedelta(seconds=5))
    assert store.typing(conversation) == [alice]
    clock.shift(timedelta(seconds=1))
    assert store.typing(conversation) == []


def test_expired_records_are_dropped_and_fresh_ones_kept(store: TypingState, clock: Any) -> None:
    conversation, (alice, bob) = str(uuid.uuid4()), ids(2)
    store.start(conversation, alice)
    clock.shift(timedelta(seconds=4))
    store.start(conversation, bob)
    clock.shift(timedelta(seconds=3))
    assert store.typing(conversation) == [bob]
    if isinstance(store, RedisTypingState):
        assert store.redis.hkeys(store.key(conversation)) == [bob.encode()]
    else:
        assert list(store._started[conversation]) == [bob]


def test_conversations_are_kept_apart(store: TypingState) -> None:
    first, second, (alice,) = str(uuid.uuid4()), str(uuid.uuid4()), ids(1)
    store.start(first, alice)
    assert store.typing(second) == []
    store.stop(second, alice)
    assert store.typing(first) == [alice]


def test_a_closed_socket_removes_only_its_own_record(store: TypingState, clock: Any) -> None:
    conversation, (alice,) = str(uuid.uuid4()), ids(1)
    first_tab = store.start(conversation, alice)
    clock.shift(timedelta(seconds=1))
    second_tab = store.start(conversation, alice)
    assert store.stop_if_unchanged(conversation, alice, first_tab) is False  # the other tab typed since
    assert store.typing(conversation) == [alice]
    assert store.stop_if_unchanged(conversation, alice, second_tab) is True
    assert store.typing(conversation) == []
    assert store.stop_if_unchanged(conversation, alice, second_tab) is False  # already gone


def test_removing_a_stale_record_tells_nobody(store: TypingState, clock: Any) -> None:
    conversation, (alice,) = str(uuid.uuid4()), ids(1)
    started = store.start(conversation, alice)
    clock.shift(timedelta(seconds=TTL))
    assert store.stop_if_unchanged(conversation, alice, started) is False
    assert store.typing(conversation) == []


def test_records_are_times_of_the_app_clock(store: TypingState, clock: Any) -> None:
    conversation, (alice,) = str(uuid.uuid4()), ids(1)
    started = store.start(conversation, alice)
    from app import clock as app_clock

    assert started == app_clock.now().timestamp()


def test_the_memory_store_keeps_a_bounded_number_of_conversations(clock: Any) -> None:
    store = MemoryTypingState(TTL, max_conversations=3)
    conversations, (alice,) = [str(uuid.uuid4()) for _ in range(50)], ids(1)
    for conversation in conversations:
        store.start(conversation, alice)
        assert len(store._started) <= 3
    assert [store.typing(c) for c in conversations[-3:]] == [[alice]] * 3
    assert store.typing(conversations[0]) == []  # the least recently written went first


def test_the_memory_store_forgets_a_conversation_once_nobody_types(clock: Any) -> None:
    store = MemoryTypingState(TTL)
    stopped, expired, (alice,) = str(uuid.uuid4()), str(uuid.uuid4()), ids(1)
    store.start(stopped, alice)
    store.stop(stopped, alice)
    store.start(expired, alice)
    clock.shift(timedelta(seconds=TTL))
    assert store.typing(expired) == []
    assert len(store._started) == 0


@pytest.mark.server
def test_redis_keeps_a_hash_per_conversation_with_a_memory_guard(redis_db: RedisDatabase, clock: Any) -> None:
    store = RedisTypingState(redis_db.url, TTL, prefix="guarded:typing:")
    conversation, (alice,) = str(uuid.uuid4()), ids(1)
    started = store.start(conversation, alice)
    key = f"guarded:typing:{conversation}"
    assert redis_db.conn.hgetall(key) == {alice.encode(): repr(started).encode()}
    assert TTL < redis_db.conn.ttl(key) <= 10 * TTL + 60


@pytest.mark.server
def test_every_process_sees_the_same_redis_state(redis_db: RedisDatabase, clock: Any) -> None:
    prefix = f"shared-{uuid.uuid4().hex}:typing:"
    one, two = RedisTypingState(redis_db.url, TTL, prefix), RedisTypingState(redis_db.url, TTL, prefix)
    conversation, (alice,) = str(uuid.uuid4()), ids(1)
    one.start(conversation, alice)
    assert two.typing(conversation) == [alice]
    two.stop(conversation, alice)
    assert one.typing(conversation) == []


def test_redis_is_the_queues_else_the_rate_limits_else_none() -> None:
    queue, limits = "redis://queue:6379/0", "redis://limits:6379/1"
    assert typing_redis_url(queue, limits) == queue
    assert typing_redis_url("unix:///run/redis.sock", "memory://") == "unix:///run/redis.sock"
    assert typing_redis_url(None, limits) == limits
    assert typing_redis_url(None, "rediss://limits:6380") == "rediss://limits:6380"
    assert typing_redis_url(None, "memory://") is None
    assert typing_redis_url(None, "redis+sentinel://limits:26379/mymaster") is None
    assert isinstance(make_typing_state(None, "memory://", "messaging", TTL), MemoryTypingState)
    on_redis = make_typing_state(None, limits, "deployment", TTL)
    assert isinstance(on_redis, RedisTypingState)
    assert on_redis.key("c") == "deployment:typing:c" and on_redis.ttl == TTL
