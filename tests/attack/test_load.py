"""Load on running servers: a burst of paid-or-refused sends, and rate limits shared by two processes.

a. 200 simultaneous sends from one user with 20 free messages left and no points
   (the send rate limit raised out of the way): exactly 20 are stored, 180 answer 402,
   nothing answers 5xx, and the books balance.
b. Two gunicorn processes sharing a private Redis for the rate limits and the Socket.IO
   queue: a send burst through both gets exactly SEND_RATE_LIMIT non-429 answers, failed
   logins are counted across both, and socket events beyond the per-socket limits are
   refused with `rate_limited` while the other participant receives only what was allowed.
"""

import threading
import time
from collections import Counter
from typing import Any

import pytest
from attack_support import assert_error_shape
from support.bursts import burst
from support.sockets import Sock

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("attack")]

BURST = 200


@pytest.mark.budget(60)
def test_200_concurrent_sends_with_20_free_left_and_no_points_store_exactly_20(launcher: Any) -> None:
    env = launcher.environment("burst", RATELIMIT_ENABLED="true", SEND_RATE_LIMIT="100000 per minute")
    server = launcher.start(env, "burst", workers=2)
    alice, bob = server.account("alice"), server.account("bob")
    chat = server.conversation(alice, bob)
    assert server.quota(alice)["freeRemaining"] == 20
    assert server.quota(alice)["pointsBalance"] == 0

    outcomes = burst(
        [
            (
                lambda n=n: server.fresh_request(
                    "POST",
                    "/api/messages/send",
                    json={"conversationId": chat, "content": f"burst {n}"},
                    headers=alice.headers,
                    timeout=45,
                )
            )
            for n in range(BURST)
        ],
        timeout=90,
    )
    statuses = Counter(o.status for o in outcomes)
    assert statuses == {201: 20, 402: 180}, (
        f"{dict(statuses)}; e.g. {[o for o in outcomes if o.status not in (201, 402)][:3]}"
    )
    for outcome in outcomes:
        if outcome.status == 402:
            body = assert_error_shape(outcome, 402, "insufficient_points")
            assert body["error"]["required"] == 10 and body["error"]["balance"] == 0, body
        else:
            assert outcome.body["charged"] == {"free": True, "points": 0}
    stored = server.books.messages_of(alice.id)
    assert len(stored) == 20 and all(row.points_charged == 0 for row in stored)
    assert sorted(str(row.id) for row in stored) == sorted(
        o.body["message"]["id"] for o in outcomes if o.status == 201
    )
    quota = server.quota(alice)
    assert (quota["messagesSentToday"], quota["freeRemaining"], quota["pointsBalance"]) == (20, 0, 0)
    assert len(server.all_messages(bob, chat)) == 20  # nothing lost for the recipient either
    assert server.books.scalar("SELECT COUNT(*) FROM points_transactions") == 0
    server.books.check()
    server.assert_clean_log()


# --------------------------------------------------------------------------- b. two processes, one Redis

SEND_LIMIT = 10
TYPING_LIMIT = 4
EVENT_LIMIT = 20


def emit_burst(sock: Sock, event: str, payloads: list[Any], timeout: float = 10) -> tuple[list[Any], float]:
    """Emit every payload at once (no waiting between them); the acks in order and the elapsed time."""
    acks: list[Any] = [None] * len(payloads)
    done = threading.Event()
    count = [0]
    lock = threading.Lock()

    def callback_for(index: int) -> Any:
        def callback(*args: Any) -> None:
            acks[index] = args[0] if len(args) == 1 else list(args)
            with lock:
                count[0] += 1
                if count[0] == len(payloads):
                    done.set()

        return callback

    started = time.monotonic()
    for index, payload in enumerate(payloads):
        sock.client.emit(event, payload, callback=callback_for(index))
    assert done.wait(timeout), f"only {count[0]} of {len(payloads)} {event} acks arrived"
    return acks, time.monotonic() - started


def split(acks: list[Any]) -> tuple[int, int, list[Any]]:
    ok = [a for a in acks if a.get("ok")]
    limited = [a for a in acks if not a.get("ok") and a["error"]["code"] == "rate_limited"]
    other = [a for a in acks if a not in ok and a not in limited]
    return len(ok), len(limited), other


@pytest.mark.budget(75)
def test_rate_limits_hold_across_two_processes_sharing_redis(
    launcher: Any, private_redis: Any, sockets: Any
) -> None:
    redis = private_redis("shared")
    env = launcher.environment(
        "two_processes",
        RATELIMIT_ENABLED="true",
        RATELIMIT_STORAGE_URI=redis.url,
        SOCKETIO_MESSAGE_QUEUE=redis.url,
        SEND_RATE_LIMIT=f"{SEND_LIMIT} per minute",
        TYPING_EVENTS_PER_SECOND=str(TYPING_LIMIT),
        SOCKET_EVENTS_PER_SECOND=str(EVENT_LIMIT),
    )
    first, second = launcher.start(env, "process-1"), launcher.start(env, "process-2")
    alice, bob, carol = first.account("alice"), second.account("bob"), first.account("carol")
    chat = first.conversation(alice, bob)

    # -- sends: 3x the limit at once, spread over both processes
    servers = (first, second)
    outcomes = burst(
        [
            (
                lambda n=n: servers[n % 2].fresh_request(
                    "POST",
                    "/api/messages/send",
                    json={"conversationId": chat, "content": f"burst {n}", "clientMessageId": f"b-{n}"},
                    headers=alice.headers,
                )
            )
            for n in range(3 * SEND_LIMIT)
        ]
    )
    statuses = Counter(o.status for o in outcomes)
    assert statuses == {201: SEND_LIMIT, 429: 2 * SEND_LIMIT}, dict(statuses)
    for outcome in outcomes:
        if outcome.status == 429:
            body = assert_error_shape(outcome, 429, "rate_limited")
            retry_after = int(outcome.headers["Retry-After"])
            assert 0 < retry_after <= 60 and body["error"]["retryAfter"] == retry_after, outcome
    assert len(first.books.messages_of(alice.id)) == SEND_LIMIT
    assert second.send(bob, chat, "another user is not limited by alice").status_code == 201

    # -- failed logins: counted in Redis, whichever process answers
    answers = [servers[n % 2].login(carol.username, "wrong-password") for n in range(8)]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 3, [a.text for a in answers]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert second.login(carol.username).status_code == 429  # the right password too, until the window ends

    # -- socket events beyond the per-socket limits
    alice_socket = sockets.open(first, alice, "alice on process 1")
    bob_socket = sockets.open(second, bob, "bob on process 2")
    mark = bob_socket.mark()
    acks, elapsed = emit_burst(alice_socket, "typing", [{"conversationId": chat, "isTyping": True}] * 12)
    ok, limited, other = split(acks)
    assert not other, other
    assert ok >= 1 and limited >= 1 and ok + limited == 12
    if elapsed < 0.9:  # the whole burst fell in one second of the server's window
        assert ok == TYPING_LIMIT, (acks, elapsed)
    relayed = bob_socket.wait_count("typing", ok, since=mark)
    time.sleep(0.5)
    assert len(bob_socket.received("typing", since=mark)) == ok == len(relayed), (
        "bob got more typing than allowed"
    )

    acks, elapsed = emit_burst(alice_socket, "join", [{"conversationId": chat}] * 30)
    ok, limited, other = split(acks)
    assert not other and ok + limited == 30 and limited >= 1, acks
    if elapsed < 0.9:
        assert ok == EVENT_LIMIT, (acks, elapsed)

    message_id = first.sent(bob, chat, "ack me")["message"]["id"]
    alice_socket.wait_for("message:new", lambda m: m["id"] == message_id)
    mark = bob_socket.mark()
    acks, elapsed = emit_burst(alice_socket, "message:ack", [{"messageIds": [message_id]}] * 30)
    ok, limited, other = split(acks)
    assert not other and limited >= 1, acks
    assert sum(a.get("delivered", 0) for a in acks) == 1  # delivered once, whatever the number of acks
    if elapsed < 0.9:
        assert ok == EVENT_LIMIT, (acks, elapsed)
    bob_socket.wait_for("message:delivered", since=mark)
    time.sleep(0.3)
    assert len(bob_socket.received("message:delivered", since=mark)) == 1

    time.sleep(1.05)  # the per-socket window has passed: events are accepted again
    assert alice_socket.call("typing", {"conversationId": chat, "isTyping": False}) == {"ok": True}
    for server in servers:
        server.books.check()
        server.assert_clean_log()
