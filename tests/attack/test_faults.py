"""Faults on running servers: Redis killed, PostgreSQL restarted, a worker SIGKILLed, the queue down.

Each dependency that a test kills or restarts is private to the test (its own
redis-server or PostgreSQL cluster on a port of its own). Clients behave as the
contract tells them to: a failed send (503, or a dropped connection) is retried with
the same clientMessageId, and a socket that missed events catches up with `after=`.
Each test ends with the books checked in the database: one message and at most one
charge per clientMessageId, every paid message with its ledger row, every quota count
equal to the messages stored, ledger sum == wallet balance.
"""

import os
import signal
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from attack_support import Server, assert_error_shape
from support.bursts import Outcome, outcome_of
from support.rest import Account

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("attack")]

ACCEPTED = (200, 201)
# The warning a 503 logs: expected here, where the tests break Redis or PostgreSQL on purpose.
BROKEN_DEPENDENCY = ("dependency unavailable",)


@dataclass
class RetryingSender:
    """A client that sends messages with clientMessageIds and retries each failure with the same id."""

    servers: list[Server]
    who: Account
    chat: str
    label: str
    outcomes: list[Outcome] = field(default_factory=list)
    done: dict[str, Outcome] = field(default_factory=dict)
    gave_up: list[str] = field(default_factory=list)

    def send(self, number: int, deadline: float) -> None:
        """Send message `number` until the server accepts it (or the deadline passes)."""
        cmid = f"{self.label}-{number}-{uuid.uuid4().hex[:8]}"
        body = {
            "conversationId": self.chat,
            "content": f"{self.label} message {number}",
            "clientMessageId": cmid,
        }
        attempt = 0
        while time.monotonic() < deadline:
            server = self.servers[(number + attempt) % len(self.servers)]
            outcome = outcome_of(
                lambda server=server: requests.post(
                    server.url + "/api/messages/send", json=body, headers=self.who.headers, timeout=10
                )
            )
            self.outcomes.append(outcome)
            if outcome.status in ACCEPTED:
                self.done[cmid] = outcome
                return
            if outcome.status not in (0, 503):
                self.gave_up.append(cmid)
                return
            attempt += 1
            time.sleep(min(0.05 * attempt, 0.3))
        self.gave_up.append(cmid)


def run_senders(
    senders: list[RetryingSender], count: int, seconds: float, until: threading.Event | None = None
) -> None:
    """Each sender sends `count` messages one after another (all senders at once).

    With `until`, each keeps sending until that event is set and it has sent 5 more
    after it, so a fault injected meanwhile always meets requests in flight.
    """
    deadline = time.monotonic() + seconds

    def loop(sender: RetryingSender) -> None:
        number = after = 0
        while number < count or (until is not None and after < 5):
            if time.monotonic() > deadline:
                break
            sender.send(number, deadline)
            number += 1
            if until is not None and until.is_set():
                after += 1

    with ThreadPoolExecutor(max_workers=len(senders)) as pool:
        for future in [pool.submit(loop, sender) for sender in senders]:
            future.result(timeout=seconds + 30)


def assert_clean_failures(outcomes: list[Outcome]) -> Counter[int]:
    """Every answer was a success or a clean 503 (shape, Retry-After, no trace); never a 500."""
    statuses = Counter(o.status for o in outcomes)
    for outcome in outcomes:
        if outcome.status >= 500 or outcome.status not in (0, *ACCEPTED):
            assert_error_shape(outcome, 503, "service_unavailable")
            assert int(outcome.headers.get("Retry-After", "0")) > 0, outcome.headers
    return statuses


def assert_exactly_once(server: Server, senders: list[RetryingSender]) -> None:
    """Every accepted clientMessageId is stored once, charged at most once, and visible to the recipient."""
    for sender in senders:
        assert not sender.gave_up, f"{sender.label} never got an answer for {sender.gave_up}"
        rows = server.books.rows(
            "SELECT m.client_message_id, m.points_charged, COUNT(t.id) AS charges FROM messages m "
            "LEFT JOIN points_transactions t ON t.message_id = m.id WHERE m.sender_id = :u "
            "GROUP BY m.id, m.client_message_id, m.points_charged",
            u=sender.who.id,
        )
        by_cmid = Counter(row.client_message_id for row in rows)
        assert set(by_cmid) == set(sender.done), "stored clientMessageIds differ from the accepted ones"
        assert all(n == 1 for n in by_cmid.values()), by_cmid.most_common(3)
        assert all(row.charges == (1 if row.points_charged else 0) for row in rows)
        for cmid, outcome in sender.done.items():
            assert outcome.body["message"]["clientMessageId"] == cmid


def wait_until(predicate: Any, timeout: float, message: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(message)


def catch_up(server: Server, who: Account, chat: str, after: str) -> list[dict[str, Any]]:
    """Every message after `after`, oldest first, paging with after= as a reconnecting client does."""
    found: list[dict[str, Any]] = []
    cursor = after
    while True:
        response = server.messages(who, chat, after=cursor, limit=100)
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page["messages"])
        if not page["hasMore"]:
            return found
        cursor = page["messages"][-1]["id"]


# --------------------------------------------------------------------------- c. Redis down


@pytest.mark.budget(75)
def test_redis_down_answers_503_changes_nothing_and_recovers_with_catch_up(
    launcher: Any, private_redis: Any, sockets: Any
) -> None:
    redis = private_redis("limits-and-queue")
    env = launcher.environment(
        "redis_down",
        RATELIMIT_STORAGE_URI=redis.url,
        SOCKETIO_MESSAGE_QUEUE=redis.url,
        RATELIMIT_ENABLED="true",
    )
    server = launcher.start(env, "redis-down")
    alice, bob, dave = server.account("alice"), server.account("bob"), server.account("dave")
    chat = server.conversation(alice, bob)
    bob_socket = sockets.open(server, bob, "bob")
    seen = server.sent(alice, chat, "before the outage")["message"]
    bob_socket.wait_for("message:new", lambda m: m["id"] == seen["id"])
    before = server.books.snapshot()

    redis.kill()
    sends = [server.send(alice, chat, f"during the outage {n}", clientMessageId=f"out-{n}") for n in range(5)]
    for response in sends:
        assert_error_shape(response, 503, "service_unavailable")
        assert int(response.headers["Retry-After"]) > 0
    login = server.login(alice.username)
    assert_error_shape(login, 503, "service_unavailable")  # the login throttle lives in Redis
    assert server.quota(alice)["messagesSentToday"] == 1  # reads that need no Redis still answer
    refusal = sockets.refusal(server, "alice while Redis is down", token=alice.token)
    assert "service_unavailable" in str(refusal), refusal
    # logout cannot reach the socket registry: a clean 503 (the token is revoked in the database, though)
    assert_error_shape(
        server.request("POST", "/api/auth/logout", headers=dave.headers), 503, "service_unavailable"
    )
    assert server.books.snapshot() == before, "a refused request changed the database"
    assert server.alarms(allowing=BROKEN_DEPENDENCY) == []

    redis.start()  # same port, empty: the counters are gone, the database is not
    accepted = wait_until(
        lambda: (
            (r := server.send(alice, chat, "after the outage", clientMessageId="out-0")).status_code == 201
            and r
        ),
        15,
        "sends did not work again once Redis was back",
    )
    sent_after = [accepted.json()["message"]]
    sent_after += [
        server.sent(alice, chat, f"after {n}", clientMessageId=f"out-{n}")["message"] for n in (1, 2)
    ]
    missed = catch_up(server, bob, chat, after=seen["id"])
    assert [m["id"] for m in missed] == [m["id"] for m in sent_after], "catch-up lost or duplicated messages"
    assert server.quota(alice)["messagesSentToday"] == 4
    server.books.check()
    server.assert_clean_log(allowing=BROKEN_DEPENDENCY)


# --------------------------------------------------------------------------- d. PostgreSQL restarted


@pytest.mark.budget(90)
def test_postgres_restart_mid_load_fails_cleanly_and_recovers_without_half_writes(
    launcher: Any, private_postgres: Any, sockets: Any
) -> None:
    database = private_postgres.create_database("messaging")
    env = launcher.environment(
        "pg_restart", database, DAILY_FREE_MESSAGES="5", INITIAL_POINTS="1000", DB_POOL_TIMEOUT="5"
    )
    server = launcher.start(env, "pg-restart", workers=2)
    pairs = []
    for n in range(4):
        sender, receiver = server.account(f"s{n}"), server.account(f"r{n}")
        pairs.append((sender, receiver, server.conversation(sender, receiver)))
    receiver_socket = sockets.open(server, pairs[0][1], "receiver 0")
    senders = [RetryingSender([server], s, chat, f"pg{n}") for n, (s, _, chat) in enumerate(pairs)]

    restarted = threading.Event()
    failures: list[BaseException] = []

    def restart_soon() -> None:
        try:
            time.sleep(0.8)
            private_postgres.restart()
        except BaseException as error:  # reported by the test, not lost in the thread
            failures.append(error)
        finally:
            restarted.set()

    restarter = threading.Thread(target=restart_soon)
    restarter.start()
    socket_answers: list[Any] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        load = pool.submit(run_senders, senders, 30, 45, restarted)
        while not restarted.is_set():  # socket events while the database goes away and comes back
            try:
                socket_answers.append(
                    receiver_socket.call(
                        "typing", {"conversationId": pairs[0][2], "isTyping": True}, timeout=8
                    )
                )
            except Exception as error:  # a timeout: the server never answered the event
                socket_answers.append(f"no ack: {error!r}")
            time.sleep(0.26)
        load.result(timeout=60)
    restarter.join(timeout=30)
    assert not failures, f"pg_ctl restart failed: {failures[0]}"

    outcomes = [o for s in senders for o in s.outcomes]
    statuses = assert_clean_failures(outcomes)
    assert statuses[503] > 0, f"the restart hit no request ({statuses}); the test proved nothing"
    assert statuses[0] == 0, f"connections were dropped instead of answered: {statuses}"
    assert_exactly_once(server, senders)
    odd = [
        a
        for a in socket_answers
        if not (
            isinstance(a, dict)
            and (a.get("ok") or a["error"]["code"] in ("service_unavailable", "rate_limited"))
        )
    ]
    assert not odd, f"socket events during the restart were not answered clearly: {odd}"

    health = wait_until(lambda: server.fresh_request("GET", "/healthz").status_code == 200, 10, "no recovery")
    assert health
    for sender, receiver, chat in pairs:  # the service works by itself again, paid and free
        server.sent(sender, chat, "after the restart")
        assert server.messages(receiver, chat).status_code == 200
    server.books.check()
    alarms = server.alarms(allowing=BROKEN_DEPENDENCY)
    assert not alarms, "\n".join(alarms[:20])
    print(f"statuses {dict(statuses)}; socket answers {Counter(str(a)[:60] for a in socket_answers)}")


# --------------------------------------------------------------------------- e. a worker SIGKILLed


@pytest.mark.budget(75)
def test_worker_killed_mid_load_leaves_no_half_written_send_and_retries_charge_once(launcher: Any) -> None:
    env = launcher.environment("sigkill", DAILY_FREE_MESSAGES="5", INITIAL_POINTS="1000")
    server = launcher.start(env, "sigkill", workers=2)
    pairs = []
    for n in range(6):
        sender, receiver = server.account(f"k{n}"), server.account(f"v{n}")
        pairs.append((sender, receiver, server.conversation(sender, receiver)))
    senders = [RetryingSender([server], s, chat, f"kill{n}") for n, (s, _, chat) in enumerate(pairs)]
    victims = server.worker_pids()
    assert len(victims) == 2, victims

    def kill_soon() -> None:
        time.sleep(0.6)
        os.kill(victims[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_soon)
    killer.start()
    run_senders(senders, 25, 45)
    killer.join()

    outcomes = [o for s in senders for o in s.outcomes]
    statuses = assert_clean_failures(outcomes)
    assert_exactly_once(server, senders)
    wait_until(
        lambda: len(pids := server.worker_pids()) == 2 and victims[0] not in pids,
        20,
        "gunicorn did not replace the killed worker",
    )
    for sender, _, chat in pairs:
        assert len(server.books.messages_of(sender.id)) == 25
        server.sent(sender, chat, "after the kill")
    server.books.check()
    server.assert_clean_log()
    print(f"statuses {dict(statuses)}")


# --------------------------------------------------------------------------- f. message queue down


@pytest.mark.budget(90)
def test_message_queue_down_sends_still_commit_and_clients_catch_up(
    launcher: Any, private_redis: Any, sockets: Any
) -> None:
    queue, limits = private_redis("queue"), private_redis("limits")
    env = launcher.environment(
        "queue_down",
        SOCKETIO_MESSAGE_QUEUE=queue.url,
        RATELIMIT_STORAGE_URI=limits.url,
        RATELIMIT_ENABLED="true",
    )
    first, second = launcher.start(env, "queue-1"), launcher.start(env, "queue-2")
    alice, bob = first.account("alice"), second.account("bob")
    chat = first.conversation(alice, bob)
    bob_socket = sockets.open(second, bob, "bob on process 2")
    alice_socket = sockets.open(first, alice, "alice on process 1")
    seen = first.sent(alice, chat, "before the outage")["message"]
    bob_socket.wait_for("message:new", lambda m: m["id"] == seen["id"])

    queue.kill()
    during = []
    for n in range(6):  # through both processes
        server = (first, second)[n % 2]
        response = server.send(alice, chat, f"while the queue is down {n}", clientMessageId=f"q-{n}")
        assert response.status_code == 201, response.text
        during.append(response.json()["message"])
    read = second.request("POST", "/api/messages/read", json={"conversationId": chat}, headers=bob.headers)
    assert read.status_code == 200 and read.json()["updated"] == 7, read.text
    refusal = sockets.refusal(first, "alice connecting while the queue is down", token=alice.token)
    assert "service_unavailable" in str(refusal), refusal
    # typing cannot be relayed without the queue; the event is still answered, not left hanging
    assert "ok" in alice_socket.call("typing", {"conversationId": chat, "isTyping": True})

    queue.start()
    missed = catch_up(second, bob, chat, after=seen["id"])
    assert [m["id"] for m in missed] == [m["id"] for m in during], "catch-up lost or duplicated messages"
    assert all(m["isRead"] for m in missed)

    # live delivery resumes once each process's listener has re-subscribed
    def probe() -> bool:
        mark = bob_socket.mark()
        message = first.sent(alice, chat, "probe")["message"]
        time.sleep(0.3)
        return any(m["id"] == message["id"] for m in bob_socket.payloads("message:new", since=mark))

    wait_until(probe, 20, "live delivery did not resume after the queue came back", interval=0.5)
    for server in (first, second):
        server.books.check()
        alarms = [a for a in server.alarms(allowing=BROKEN_DEPENDENCY) if "Bad file descriptor" not in a]
        assert not alarms, "\n".join(alarms[:20])
