"""argon2id password hashing with an optional pepper, run off the event loop."""

import hashlib
import hmac
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.green import run_blocking


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def _peppered(password: str, pepper: str) -> bytes:
    """Mix the application-wide pepper in; without one the password is used as is."""
    if not pepper:
        return password.encode("utf-8")
    return hmac.new(pepper.encode("utf-8"), password.encode("utf-8"), hashlib.sha256).digest()


def hash_password(password: str, *, pepper: str, time_cost: int, memory_kib: int) -> str:
    """An argon2id hash of the password (salted per call)."""
    hasher = _hasher(time_cost, memory_kib)
    return run_blocking(hasher.hash, _peppered(password, pepper))


def verify_password(stored_hash: str, password: str, *, pepper: str) -> bool:
    """Whether the password matches the stored hash."""
    hasher = PasswordHasher()
    try:
        return bool(run_blocking(hasher.verify, stored_hash, _peppered(password, pepper)))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=8)
def dummy_hash(time_cost: int, memory_kib: int) -> str:
    """A hash to verify against when the user does not exist, so both cases cost the same."""
    return _hasher(time_cost, memory_kib).hash(b"no such user: constant-time answer")
