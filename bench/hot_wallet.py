"""2. Hot wallet: one user sending from 16 connections at once, against many users in the same run.

Every send of the one user locks the same quota row (and, paid, the same wallet row),
so PostgreSQL serialises them: throughput is bounded by how long the transaction
holds the lock. Rounds alternate between:

- many: 32 connections, each request from the next of many users (the figure of
  benchmark 1, measured again here, in the same server, interleaved);
- hot: 16 connections, every request from the same user (paid sends: quota lock,
  insert, wallet debit, ledger row).

Also counts 5xx answers, PostgreSQL's deadlock counter for the database, and checks
that the wallet still equals its ledger.
"""

from contextlib import ExitStack
from typing import Any

from bench.harness import (
    Context,
    deadlocks,
    goal,
    ledger_mismatches,
    log,
    ratio,
    seed_users,
    send_request,
    start_one_server,
    write_result,
)
from bench.send_throughput import arm_summary, measure_arms, plot_arms

NAME = "hot_wallet"
HOT_CONNECTIONS = 16
MANY_CONNECTIONS = 32


def run(ctx: Context) -> dict[str, Any]:
    """Run the benchmark; write bench/results/hot_wallet.{json,png}."""
    users_count = ctx.pick(128, 1024)
    repetitions = 3
    duration = ctx.pick(1.0, 8.0)
    with ExitStack() as stack:
        database = ctx.database(stack, "hot")
        many = seed_users(database, users_count, daily_free_limit=0, prefix="m")
        hot = seed_users(database, 2, daily_free_limit=0, prefix="h")[0]
        server, loadgen, meter = start_one_server(ctx, stack, database, "hot")
        arms = {
            "many": [send_request(u) for u in many],
            "hot": [send_request(hot)],
        }
        deadlocks_before = deadlocks(database)
        log(f"{NAME}: one user on {HOT_CONNECTIONS} connections vs {users_count} users on {MANY_CONNECTIONS}")
        rounds = measure_arms(
            ctx,
            loadgen,
            server.url,
            meter,
            arms,
            connections={"many": MANY_CONNECTIONS, "hot": HOT_CONNECTIONS},
            repetitions=repetitions,
            duration=duration,
        )
        deadlock_count = deadlocks(database) - deadlocks_before
        mismatches = ledger_mismatches(database)
        alarms = server.alarms()
    summary = {arm: arm_summary(rounds, arm) for arm in arms}
    hot_ratio = ratio(summary["hot"]["throughput_per_s"], summary["many"]["throughput_per_s"])
    errors = summary["hot"]["server_errors_5xx"] + summary["many"]["server_errors_5xx"]
    result = {
        "config": {
            "many_users": users_count,
            "many_connections": MANY_CONNECTIONS,
            "hot_connections": HOT_CONNECTIONS,
            "repetitions": repetitions,
            "round_seconds": duration,
            "sends": "paid (daily free limit 0): quota lock, insert, wallet debit, ledger row",
        },
        "summary": {
            **summary,
            "hot_to_many_ratio": hot_ratio,
            "server_errors_5xx": errors,
            "deadlocks": deadlock_count,
            "ledger_mismatches": mismatches,
            "server_log_alarms": alarms[:10],
        },
        "goals": [
            goal(
                "hot-wallet throughput / many users",
                ">= 0.40",
                hot_ratio,
                hot_ratio is not None and hot_ratio >= 0.4,
            ),
            goal("hot-wallet 5xx answers", "0", errors, errors == 0),
            goal("deadlocks", "0", deadlock_count, deadlock_count == 0),
        ],
        "rounds": rounds,
    }
    write_result(
        ctx,
        NAME,
        result,
        lambda fig: plot_arms(
            fig,
            rounds,
            summary,
            f"one user on {HOT_CONNECTIONS} connections / many users: {hot_ratio or 0:.2f} (goal 0.40)",
        ),
    )
    return result
