"""Concurrent sends against a real gunicorn (2 eventlet workers) on PostgreSQL.

Money and quota must come out exact under a burst of simultaneous requests: the
quota row and wallet row locks serialise one sender's sends, the guarded debit
never overdraws, the idempotency key lets exactly one of many retries through,
and nothing deadlocks or answers 500 (or 503, which is how the app reports a
database error such as a detected deadlock).
"""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from support.bursts import Outcome, statuses
from support.bursts import burst as fire_together
from support.databases import deadlocks
from support.rest import Account
from support.servers import LiveServer

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("gunicorn")]

THREADS = 60
BURST_TIMEOUT = 90.0  # the whole burst; each request also has its own timeout


def burst(server: LiveServer, calls: list[Callable[[], requests.Response]]) -> list[Outcome]:
    """Fire all calls at once; the server must survive it."""
    outcomes = fire_together(calls, threads=THREADS, timeout=BURST_TIMEOUT)
    server.assert_alive()
    return outcomes


def describe(outcomes: list[Outcome], server: LiveServer, since: int) -> str:
    """A failure message: the unexpected answers and the server's log of the burst."""
    odd = [o for o in outcomes if o.status not in (200, 201, 402)]
    log = server.log(since)[-8000:]
    return (
        f"statuses {dict(statuses(outcomes))}; unexpected: {odd[:5]}; "
        f"deadlocks detected by PostgreSQL: {deadlocks(server.engine)}\nserver log:\n{log}"
    )


def ledger(server: LiveServer, user: Account) -> list[sa.Row]:
    """The user's ledger rows (reason, amount, balance_after, message_id)."""
    with server.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT reason, amount, balance_after, message_id FROM points_transactions "
                    "WHERE user_id = :uid ORDER BY created_at, balance_after DESC"
                ),
                {"uid": user.id},
            )
        )


def wallet_balance(server: LiveServer, user: Account) -> int:
    """The wallet balance as stored."""
    with server.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT balance FROM points_wallets WHERE user_id = :uid"), {"uid": user.id}
        ).scalar_one()


def message_count(server: LiveServer, user: Account, client_message_id: str | None = None) -> int:
    """How many message rows the user has sent (optionally with one clientMessageId)."""
    sql = "SELECT count(*) FROM messages WHERE sender_id = :uid"
    params: dict[str, Any] = {"uid": user.id}
    if client_message_id is not None:
        sql += " AND client_message_id = :cid"
        params["cid"] = client_message_id
    with server.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def assert_wallet_matches_ledger(server: LiveServer, user: Account) -> None:
    """The append-only ledger explains the balance: balance == sum(amount), never negative."""
    rows = ledger(server, user)
    balance = wallet_balance(server, user)
    assert balance >= 0
    assert balance == sum(row.amount for row in rows), rows


def assert_ledger_chain_in_time_order(server: LiveServer, user: Account) -> None:
    """Ordered by created_at alone, each row's balance_after follows from the one before."""
    with server.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT amount, balance_after FROM points_transactions "
                "WHERE user_id = :uid ORDER BY created_at"
            ),
            {"uid": user.id},
        ).all()
    balance = 0
    for row in rows:
        balance += row.amount
        assert row.balance_after == balance, f"created_at order breaks the balance chain: {rows}"


def send_sequentially(server: LiveServer, who: Account, chat: str, count: int) -> None:
    """Use `count` sends one after another (each must succeed)."""
    for number in range(count):
        response = server.send(who, chat, f"warm-up {number}")
        assert response.status_code == 201, response.text


def test_60_simultaneous_sends_with_15_free_and_55_points_succeed_exactly_20_times(
    live_server: LiveServer,
) -> None:
    """15 free sends left + 55 points buy exactly 20 messages; the other 40 get 402 and change nothing."""
    server = live_server
    sender, receiver = server.account("burst"), server.account("rcpt")
    chat = server.conversation(sender, receiver)
    send_sequentially(server, sender, chat, 5)
    server.grant(sender, 55)
    assert server.quota(sender)["pointsBalance"] == 55
    since = server.log_size()

    outcomes = burst(server, [lambda i=i: server.send(sender, chat, f"burst {i}") for i in range(60)])

    counts = statuses(outcomes)
    assert counts == {201: 20, 402: 40}, describe(outcomes, server, since)
    created = [o.body for o in outcomes if o.status == 201]
    assert sum(body["charged"] == {"free": True, "points": 0} for body in created) == 15
    assert sum(body["charged"] == {"free": False, "points": 10} for body in created) == 5
    assert len({body["message"]["id"] for body in created}) == 20
    # Serialised by the quota lock: each success saw its own count and balance.
    assert sorted(body["quota"]["messagesSentToday"] for body in created) == list(range(6, 26))
    paid = [body for body in created if body["charged"]["points"]]
    assert sorted(body["quota"]["pointsBalance"] for body in paid) == [5, 15, 25, 35, 45]
    for refused in (o.body for o in outcomes if o.status == 402):
        assert refused["error"]["code"] == "insufficient_points", refused
        assert refused["error"]["required"] == 10
        assert refused["error"]["balance"] < 10

    quota = server.quota(sender)
    assert quota["messagesSentToday"] == 25
    assert quota["freeRemaining"] == 0
    assert quota["pointsBalance"] == 5

    assert wallet_balance(server, sender) == 5
    assert_wallet_matches_ledger(server, sender)
    assert_ledger_chain_in_time_order(server, sender)
    assert message_count(server, sender) == 25
    rows = ledger(server, sender)
    assert sorted((row.reason, row.amount) for row in rows) == [("grant", 55)] + [("message", -10)] * 5
    debits = [row for row in rows if row.reason == "message"]
    assert sorted(row.balance_after for row in debits) == [5, 15, 25, 35, 45]
    assert len({row.message_id for row in debits}) == 5 and None not in {row.message_id for row in debits}
    with server.engine.connect() as conn:
        charged = conn.execute(
            sa.text("SELECT points_charged, count(*) FROM messages WHERE sender_id = :uid GROUP BY 1"),
            {"uid": sender.id},
        ).all()
    assert sorted(tuple(row) for row in charged) == [(0, 20), (10, 5)]
    server.assert_clean_log(since)
    assert deadlocks(server.engine) == 0


def _assert_one_created_rest_replayed(outcomes: list[Outcome], server: LiveServer, since: int) -> dict:
    """Exactly one 201; every other answer is a 200 replay of that same message, charging nothing."""
    assert statuses(outcomes) == {201: 1, 200: len(outcomes) - 1}, describe(outcomes, server, since)
    first = next(o.body for o in outcomes if o.status == 201)
    for replay in (o.body for o in outcomes if o.status == 200):
        assert replay["message"]["id"] == first["message"]["id"]
        assert replay["charged"] == {"free": False, "points": 0}
        assert replay["quota"] == first["quota"]
    return first


def test_20_simultaneous_retries_with_one_client_message_id_store_one_free_message(
    live_server: LiveServer,
) -> None:
    """One message row, one quota slot, no ledger row, whatever the interleaving of 20 retries."""
    server = live_server
    sender, receiver = server.account("idem"), server.account("rcpt")
    chat = server.conversation(sender, receiver)
    send_sequentially(server, sender, chat, 3)
    client_id = f"cid-{uuid.uuid4()}"
    since = server.log_size()

    outcomes = burst(server, [lambda: server.send(sender, chat, "only once", clientMessageId=client_id)] * 20)

    first = _assert_one_created_rest_replayed(outcomes, server, since)
    assert first["charged"] == {"free": True, "points": 0}
    assert first["message"]["clientMessageId"] == client_id
    assert message_count(server, sender, client_id) == 1
    assert message_count(server, sender) == 4
    quota = server.quota(sender)
    assert quota["messagesSentToday"] == 4
    assert quota["pointsBalance"] == 0
    assert ledger(server, sender) == []
    assert_wallet_matches_ledger(server, sender)
    server.assert_clean_log(since)
    assert deadlocks(server.engine) == 0


def test_20_simultaneous_paid_retries_with_one_client_message_id_charge_10_points_once(
    live_server: LiveServer,
) -> None:
    """With no free sends left and 30 points, 20 retries of one send cost one 10-point charge."""
    server = live_server
    sender, receiver = server.account("idempaid"), server.account("rcpt")
    chat = server.conversation(sender, receiver)
    send_sequentially(server, sender, chat, 20)
    server.grant(sender, 30)
    before = server.quota(sender)
    assert (before["freeRemaining"], before["pointsBalance"]) == (0, 30)
    client_id = f"cid-{uuid.uuid4()}"
    since = server.log_size()

    outcomes = burst(server, [lambda: server.send(sender, chat, "paid once", clientMessageId=client_id)] * 20)

    first = _assert_one_created_rest_replayed(outcomes, server, since)
    assert first["charged"] == {"free": False, "points": 10}
    assert message_count(server, sender, client_id) == 1
    assert message_count(server, sender) == 21
    quota = server.quota(sender)
    assert quota["messagesSentToday"] == 21
    assert quota["pointsBalance"] == 20
    rows = ledger(server, sender)
    assert sorted((row.reason, row.amount) for row in rows) == [("grant", 30), ("message", -10)]
    assert next(row for row in rows if row.reason == "message").message_id is not None
    assert wallet_balance(server, sender) == 20
    assert_wallet_matches_ledger(server, sender)
    server.assert_clean_log(since)
    assert deadlocks(server.engine) == 0


def test_two_users_sending_into_one_conversation_at_once_never_deadlock(live_server: LiveServer) -> None:
    """Both participants of one conversation (and a third chat) send 60 messages at once: exact counts."""
    server = live_server
    alice, bob, carol = server.account("dla"), server.account("dlb"), server.account("dlc")
    shared = server.conversation(alice, bob)
    side = server.conversation(alice, carol)
    server.grant(alice, 50)
    server.grant(bob, 50)
    since = server.log_size()
    calls: list[Callable[[], requests.Response]] = []
    for i in range(20):
        calls.append(lambda i=i: server.send(alice, shared, f"a{i}"))
        calls.append(lambda i=i: server.send(bob, shared, f"b{i}"))
        calls.append(lambda i=i: server.send(alice, side, f"s{i}"))

    outcomes = burst(server, calls)

    # alice: 40 attempts = 20 free + 5 paid (50 points) + 15 refused; bob: 20 attempts, all free.
    assert statuses(outcomes) == {201: 45, 402: 15}, describe(outcomes, server, since)
    assert server.quota(alice)["messagesSentToday"] == 25
    assert server.quota(alice)["pointsBalance"] == 0
    assert server.quota(bob)["messagesSentToday"] == 20
    assert server.quota(bob)["pointsBalance"] == 50
    assert message_count(server, alice) == 25
    assert message_count(server, bob) == 20
    for user in (alice, bob):
        assert_wallet_matches_ledger(server, user)
    assert len([row for row in ledger(server, alice) if row.reason == "message"]) == 5
    assert [row.reason for row in ledger(server, bob)] == ["grant"]
    server.assert_clean_log(since)
    assert deadlocks(server.engine) == 0
