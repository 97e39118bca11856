"""The socket registry (app.realtime.registry), in memory and on a real Redis: sockets by
token for logout, and the tokens of a user for a password change."""

import time
import uuid
from collections.abc import Iterator

import pytest
from support.databases import RedisDatabase
from support.pytest_live import require_redis

from app.realtime.registry import MemorySocketRegistry, RedisSocketRegistry, SocketRegistry

LIFETIME = 3600


@pytest.fixture(scope="module")
def redis_db() -> Iterator[RedisDatabase]:
    require_redis()
    claimed = RedisDatabase()
    yield claimed
    claimed.release()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.server)])
def registry(request: pytest.FixtureRequest) -> SocketRegistry:
    if request.param == "memory":
        return MemorySocketRegistry()
    redis_db = request.getfixturevalue("redis_db")
    return RedisSocketRegistry(redis_db.url, f"test-{uuid.uuid4().hex}:socket-token:", LIFETIME)


def test_a_users_tokens_are_the_unexpired_ones_that_opened_sockets(registry: SocketRegistry) -> None:
    soon = time.time() + 60
    assert registry.add("t1", "s1", soon, "alice")
    assert registry.add("t1", "s2", soon, "alice")
    assert registry.add("t2", "s3", soon, "alice")
    assert registry.add("t3", "s4", soon, "bob")
    assert registry.add("old", "s5", time.time() - 1, "alice")  # expired already
    assert registry.user_tokens("alice") == ["t1", "t2"]
    assert registry.user_tokens("bob") == ["t3"]
    assert registry.user_tokens("carol") == []


def test_revoking_one_token_returns_its_sockets_and_refuses_new_ones(registry: SocketRegistry) -> None:
    soon = time.time() + 60
    registry.add("t1", "s1", soon, "alice")
    registry.add("t1", "s2", soon, "alice")
    registry.add("t2", "s3", soon, "alice")
    assert registry.revoke("t1", soon) == ["s1", "s2"]
    assert not registry.add("t1", "s9", soon, "alice")
    assert registry.add("t2", "s4", soon, "alice")


def test_the_redis_index_of_a_users_tokens_outlives_them_and_no_more(redis_db: RedisDatabase) -> None:
    registry = RedisSocketRegistry(redis_db.url, "ttl:socket-token:", LIFETIME)
    registry.add("t1", "s1", time.time() + 60, "alice")
    assert LIFETIME < registry.redis.ttl("ttl:socket-token:user:alice") <= LIFETIME + 60


def test_a_user_is_online_while_one_of_their_sockets_is_open(registry: SocketRegistry) -> None:
    soon = time.time() + 60
    registry.add("t1", "s1", soon, "alice")
    registry.add("t2", "s2", soon, "alice")
    registry.add("t3", "s3", soon, "bob")
    registry.add("old", "s4", time.time() - 1, "carol")  # an expired token's socket does not count
    assert registry.online_users(["alice", "bob", "carol", "dave"]) == {"alice", "bob"}
    registry.remove("t1", "s1")
    assert registry.online_users(["alice", "bob"]) == {"alice", "bob"}
    registry.remove("t2", "s2")
    registry.remove("t3", "s3")
    assert registry.online_users(["alice", "bob"]) == set()
    assert registry.online_users([]) == set()
