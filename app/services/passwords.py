"""argon2id password hashing with an optional pepper, off the event loop and a bounded
number at a time per process (each hash holds PASSWORD_HASH_MEMORY_KIB of memory); and
the list of common passwords nobody may choose (NIST SP 800-63B)."""

import hashlib
import hmac
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.green import bounded_semaphore, run_blocking
from app.settings import HashingCost

T = TypeVar("T")


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


@lru_cache(maxsize=8)
def _hashing_slots(concurrency: int) -> Any:
    """The process's semaphore for this many hashes at once."""
    return bounded_semaphore(concurrency)


def _run_hash(cost: HashingCost, func: Callable[..., T], *args: Any) -> T:
    """Run one hash in a native thread once one of the process's slots is free."""
    with _hashing_slots(cost.concurrency):
        return run_blocking(func, *args)


def _peppered(password: str, pepper: str) -> bytes:
    """Mix the application-wide pepper in; without one the password is used as is."""
    if not pepper:
        return password.encode("utf-8")
    return hmac.new(pepper.encode("utf-8"), password.encode("utf-8"), hashlib.sha256).digest()


def hash_password(password: str, cost: HashingCost) -> str:
    """An argon2id hash of the password (salted per call)."""
    hasher = _hasher(cost.time_cost, cost.memory_kib)
    return _run_hash(cost, hasher.hash, _peppered(password, cost.pepper))


def verify_password(stored_hash: str, password: str, cost: HashingCost) -> bool:
    """Whether the password matches the stored hash (at the cost the hash was made with)."""
    try:
        return bool(_run_hash(cost, PasswordHasher().verify, stored_hash, _peppered(password, cost.pepper)))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return run_blocking(_hasher(time_cost, memory_kib).hash, b"no such user: constant-time answer")


def dummy_hash(cost: HashingCost) -> str:
    """A hash to verify against when the user does not exist, so both cases cost the same."""
    return _dummy_hash(cost.time_cost, cost.memory_kib)


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    """The 30,000 most used passwords of leaked password sets, lower-cased (zxcvbn's list)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def is_common_password(password: str) -> bool:
    """Whether the password, in any case, is on the list of common passwords."""
    return password.lower() in _common_passwords()
