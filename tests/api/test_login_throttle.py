"""The failed-login throttle: counted before the hash, per (username, address) and per address,
behind a trusted proxy, and a 429 that says when to try again (API and login page)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support.forms import submit

from app import create_app
from app.services import accounts
from config import TestingConfig

PASSWORD = "a-long-unguessable-passphrase"


def login(app: Any, username: str, password: str, address: str = "127.0.0.1", **headers: str) -> Any:
    """POST /api/auth/login from `address`, on a client of its own (threads may share nothing)."""
    return app.test_client().post(
        "/api/auth/login",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers=headers,
    )


def test_60_concurrent_guesses_verify_no_more_than_the_limit_and_miss_the_password(app, api, monkeypatch):
    assert api.register("quinn", PASSWORD).status_code == 201
    verifying, answered, release = [], [], threading.Event()
    real_verify = accounts.verify_password

    def slow_verify(stored_hash: str, password: str, *args: Any) -> bool:
        verifying.append(password)
        if password != PASSWORD:  # wrong guesses stay in the slow hash until the right one was tried
            release.wait(10)
        return real_verify(stored_hash, password, *args)

    monkeypatch.setattr(accounts, "verify_password", slow_verify)

    def guess(n: int) -> int:
        status = login(app, "quinn", f"wrong-guess-{n}").status_code
        answered.append(status)
        return status

    with ThreadPoolExecutor(max_workers=60) as pool:
        wrong = [pool.submit(guess, n) for n in range(59)]
        deadline = time.monotonic() + 10
        while len(verifying) + len(answered) < 59 and time.monotonic() < deadline:
            time.sleep(0.01)
        right = login(app, "quinn", PASSWORD)
        release.set()
        statuses = sorted(f.result() for f in wrong)

    assert len(verifying) == 5, f"{len(verifying)} guesses were verified"
    assert statuses == [401] * 5 + [429] * 54
    assert right.status_code == 429
    assert 0 < int(right.headers["Retry-After"]) <= 15 * 60


def test_a_success_is_not_a_failure_and_forgets_the_failures_before_it(app, api):
    api.register("rosa", PASSWORD)
    for _ in range(4):
        assert login(app, "rosa", "wrong-password").status_code == 401
    for _ in range(10):  # successes are not failures, and forget the failures before them
        assert login(app, "rosa", PASSWORD).status_code == 200
    for _ in range(5):
        assert login(app, "rosa", "wrong-password").status_code == 401
    assert login(app, "rosa", PASSWORD).status_code == 429


def test_a_strangers_failures_do_not_lock_the_owner_out_from_another_address(app, api):
    api.register("sam", PASSWORD)
    for _ in range(5):
        assert login(app, "sam", "wrong-password", "203.0.113.7").status_code == 401
    refused = login(app, "sam", PASSWORD, "203.0.113.7")
    assert refused.status_code == 429
    assert refused.json["error"]["retryAfter"] == int(refused.headers["Retry-After"]) > 0
    assert login(app, "sam", PASSWORD, "198.51.100.20").status_code == 200


def test_fifty_failures_lock_that_address_only(app, api):
    api.register("tess", PASSWORD)
    for n in range(50):
        assert login(app, f"nobody-{n}", "wrong-password", "203.0.113.9").status_code == 401
    assert login(app, "tess", PASSWORD, "203.0.113.9").status_code == 429
    assert login(app, "tess", PASSWORD, "198.51.100.21").status_code == 200


def test_an_ipv6_client_cannot_escape_the_address_limit_by_changing_its_interface_id(app, api):
    api.register("uma", PASSWORD)
    for n in range(50):
        assert login(app, f"nobody-{n}", "wrong-password", f"2001:db8:1:2::{n + 1:x}").status_code == 401
    assert login(app, "uma", PASSWORD, "2001:db8:1:2::ffff").status_code == 429
    assert login(app, "uma", PASSWORD, "2001:db8:1:3::1").status_code == 200


def test_the_per_username_ceiling_spares_addresses_the_owner_logged_in_from(app, api):
    app.config["LOGIN_USERNAME_FAILURE_LIMIT"] = "10 per 15 minutes"
    api.register("vera", PASSWORD)
    assert login(app, "vera", PASSWORD, "198.51.100.30").status_code == 200  # her usual address
    for n in range(10):  # strangers from 5 addresses, 2 guesses each
        assert login(app, "vera", "wrong-password", f"203.0.113.{n // 2 + 10}").status_code == 401
    assert login(app, "vera", PASSWORD, "203.0.113.99").status_code == 429  # a new address
    assert login(app, "vera", PASSWORD, "198.51.100.30").status_code == 200  # her own


@pytest.fixture
def proxied_app(app, database_url):
    """The same database behind one trusted proxy (TRUSTED_PROXIES=1)."""
    return create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=database_url, TRUSTED_PROXIES=1)


def test_behind_a_trusted_proxy_each_client_has_its_own_address(app, api, proxied_app):
    api.register("walt", PASSWORD)
    proxy = "10.0.0.2"
    for n in range(50):
        response = login(proxied_app, f"nobody-{n}", "wrong", proxy, **{"X-Forwarded-For": "203.0.113.50"})
        assert response.status_code == 401
    assert (
        login(proxied_app, "walt", PASSWORD, proxy, **{"X-Forwarded-For": "203.0.113.50"}).status_code == 429
    )
    assert (
        login(proxied_app, "walt", PASSWORD, proxy, **{"X-Forwarded-For": "198.51.100.5"}).status_code == 200
    )


def test_without_trusted_proxies_x_forwarded_for_is_ignored(app, api):
    api.register("xena", PASSWORD)
    for n in range(5):
        spoofed = {"X-Forwarded-For": f"198.51.100.{n + 1}"}
        assert login(app, "xena", "wrong", "203.0.113.60", **spoofed).status_code == 401
    assert login(app, "xena", PASSWORD, "203.0.113.60", **{"X-Forwarded-For": "1.2.3.4"}).status_code == 429


def test_the_login_page_says_when_to_try_again(client, api):
    api.register("yann", PASSWORD)
    for _ in range(5):
        assert submit(client, "/login", {"username": "yann", "password": "wrong!"}).status_code == 400
    refused = submit(client, "/login", {"username": "yann", "password": PASSWORD})
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert "try again in 15 minutes" in refused.get_data(as_text=True)
