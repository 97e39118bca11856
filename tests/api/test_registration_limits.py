"""Registrations: rate limited per address (API and form), and a bounded number of password
hashes at once in a process."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from support.forms import submit

from app.extensions import db
from app.models import User

PASSWORD = "a-long-unguessable-passphrase"


def register(app: Any, username: str, address: str = "127.0.0.1") -> Any:
    """POST /api/auth/register from `address`, on a client of its own."""
    return app.test_client().post(
        "/api/auth/register",
        json={"username": username, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": address},
    )


def usernames() -> set[str]:
    db.session.remove()
    return set(db.session.scalars(sa.select(User.username)))


def test_registrations_beyond_the_per_address_limit_get_429_with_retry_after(app):
    app.config["REGISTER_RATE_LIMIT"] = "3 per hour"
    assert [register(app, f"new{n}", "203.0.113.5").status_code for n in range(3)] == [201] * 3
    refused = register(app, "new3", "203.0.113.5")
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert 3500 < refused.json["error"]["retryAfter"] == int(refused.headers["Retry-After"]) <= 3600
    assert "new3" not in usernames()
    assert register(app, "new4", "198.51.100.5").status_code == 201


def test_the_default_allows_30_registrations_an_hour_per_address(app):
    assert all(register(app, f"user{n}").status_code == 201 for n in range(30))
    assert register(app, "user30").status_code == 429


def test_registrations_are_not_limited_with_rate_limits_off(app):
    app.config.update(REGISTER_RATE_LIMIT="1 per hour", RATELIMIT_ENABLED=False)
    assert [register(app, f"free{n}").status_code for n in range(3)] == [201] * 3


def test_the_register_page_says_when_to_try_again(app, client):
    app.config["REGISTER_RATE_LIMIT"] = "1 per hour"
    assert register(app, "first").status_code == 201
    refused = submit(client, "/register", {"username": "second", "password": PASSWORD})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "try again in 1 hour" in refused.get_data(as_text=True)
    assert "second" not in usernames()


def test_no_more_hashes_run_at_once_than_the_setting_allows(app, monkeypatch):
    app.config["PASSWORD_HASH_CONCURRENCY"] = 2
    running, most, lock = [0], [0], threading.Lock()
    real_hash = PasswordHasher.hash

    def slow_hash(self: PasswordHasher, password: Any, **kwargs: Any) -> str:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        try:
            return real_hash(self, password, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(PasswordHasher, "hash", slow_hash)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda n: register(app, f"crowd{n}", f"203.0.113.{n}").status_code, range(8))
        )
    assert statuses == [201] * 8
    assert most[0] == 2, f"{most[0]} hashes ran at once"
