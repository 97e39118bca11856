"""Password guessing and registration floods against real gunicorn servers with the production
password hashing: concurrent guesses across green threads and processes, and how many argon2id
hashes one process runs at once."""

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from attack_support import assert_error_shape
from support.bursts import burst
from support.rest import unique_name

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("attack")]

PASSWORD = "a-long-unguessable-passphrase"
ARGON2_MEMORY_MIB = 64  # the production PASSWORD_HASH_MEMORY_KIB


def guesses(servers: list[Any], username: str, wrong: int) -> tuple[Counter[int], Any]:
    """`wrong` wrong guesses at once spread over the servers, then the right password while they run."""
    refused = threading.Event()

    def guess(n: int) -> Any:
        response = servers[n % len(servers)].fresh_request(
            "POST", "/api/auth/login", json={"username": username, "password": f"guess-{n}"}
        )
        if response.status_code == 429:
            refused.set()
        return response

    calls = [lambda n=n: guess(n) for n in range(wrong)]
    outcomes: list[Any] = []
    flood = threading.Thread(target=lambda: outcomes.extend(burst(calls)))
    flood.start()
    # A refusal means every slot is held by a guess (in, or waiting for, the slow hash);
    # a fixed pause could let the right password take a slot first on a busy machine.
    assert refused.wait(30), "no guess was refused"
    right = servers[-1].fresh_request(
        "POST", "/api/auth/login", json={"username": username, "password": PASSWORD}
    )
    flood.join(60)
    return Counter(o.status for o in outcomes), right


@pytest.mark.budget(120)
def test_concurrent_guesses_on_one_process_verify_no_more_than_the_limit(launcher: Any) -> None:
    env = launcher.environment("guesses", production_hashing=True)
    server = launcher.start(env, "guesses")
    victim = unique_name("victim")
    assert server.register(victim, PASSWORD).status_code == 201
    statuses, right = guesses([server], victim, 59)
    assert statuses[401] == 5 and statuses[429] == 54, statuses
    body = assert_error_shape(right, 429, "rate_limited")
    assert 0 < body["error"]["retryAfter"] == int(right.headers["Retry-After"]) <= 900
    server.assert_clean_log()


@pytest.mark.budget(150)
def test_concurrent_guesses_on_two_processes_sharing_redis_verify_no_more_than_the_limit(
    launcher: Any, private_redis: Any
) -> None:
    redis = private_redis("limits")
    env = launcher.environment("guesses2", production_hashing=True, RATELIMIT_STORAGE_URI=redis.url)
    servers = [launcher.start(env, f"guesses-{n}") for n in (1, 2)]
    victim = unique_name("victim")
    assert servers[0].register(victim, PASSWORD).status_code == 201
    statuses, right = guesses(servers, victim, 59)
    assert statuses[401] == 5 and statuses[429] == 54, statuses
    assert_error_shape(right, 429, "rate_limited")
    for server in servers:
        server.assert_clean_log()


def peak_rss_mib(pid: int) -> float:
    """The most resident memory the process ever had (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


@pytest.mark.budget(150)
def test_24_concurrent_registrations_hash_at_most_the_bound_at_once(launcher: Any) -> None:
    """Each argon2id hash holds 64 MiB while it runs: the peak memory tells how many ran at once."""
    env = launcher.environment("signups", production_hashing=True, PASSWORD_HASH_CONCURRENCY="2")
    server = launcher.start(env, "signups")
    assert server.register(unique_name("warm"), PASSWORD).status_code == 201  # one hash's worth already
    before = peak_rss_mib(server.worker_pid())
    body = {"password": PASSWORD}
    calls = [
        lambda: server.fresh_request(
            "POST", "/api/auth/register", json={**body, "username": unique_name("s")}
        )
        for _ in range(24)
    ]
    outcomes = burst(calls)
    assert Counter(o.status for o in outcomes) == {201: 24}
    grown = peak_rss_mib(server.worker_pid()) - before
    assert grown < 2.5 * ARGON2_MEMORY_MIB, f"the peak grew by {grown:.0f} MiB: more than 2 hashes at once"
    server.assert_clean_log()


@pytest.mark.budget(60)
def test_registrations_are_limited_per_address_and_behind_a_trusted_proxy_per_client(launcher: Any) -> None:
    env = launcher.environment("signup_limit", REGISTER_RATE_LIMIT="3 per hour", TRUSTED_PROXIES="1")
    server = launcher.start(env, "signup-limit")

    def register(client: str) -> Any:
        body = {"username": unique_name("s"), "password": PASSWORD}
        return server.request("POST", "/api/auth/register", json=body, headers={"X-Forwarded-For": client})

    assert [register("203.0.113.1").status_code for _ in range(3)] == [201] * 3
    refused = register("203.0.113.1")
    body = assert_error_shape(refused, 429, "rate_limited")
    assert 0 < body["error"]["retryAfter"] == int(refused.headers["Retry-After"]) <= 3600
    assert register("198.51.100.1").status_code == 201  # another client of the same proxy
    server.assert_clean_log()
