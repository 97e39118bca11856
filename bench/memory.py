"""5. Memory: resident memory per idle connected socket, at 1,000 connections.

Each repetition starts a fresh server (memory a process once used is not given back,
so a reused server would flatter the figure), warms it with a few sockets that come
and go, reads the worker's RSS, connects N idle websockets (one per user, token in
the auth payload, each joins its user room), waits for the process to settle and
reads RSS again, at N/2 and at N. Per connection = (RSS at N - RSS before) / N.

Interleaved with the ceiling (here a floor): a bare python-socketio server under the
same gunicorn eventlet worker (bench/bare_socketio.py: no Flask, no database), which
shows what the stack itself costs per socket.
"""

import time
from contextlib import ExitStack
from typing import Any

from support.servers import LiveServer

from bench.fanout import socket_users
from bench.harness import (
    Context,
    LoadGen,
    goal,
    log,
    median,
    ratio,
    seed_users,
    write_result,
)

NAME = "memory"
WARM_SOCKETS = 20
GOAL_KIB = 64


def measure(
    loadgen: LoadGen, server: LiveServer, users: list[dict[str, Any]], settle: float
) -> dict[str, Any]:
    """RSS before, at N/2 and at N idle sockets on one fresh server."""
    warm = loadgen.call("sockets_connect", url=server.url, set="warm", users=users[:WARM_SOCKETS])
    loadgen.call("sockets_close", set="warm")
    time.sleep(settle)
    before = server.rss_kib()
    half = len(users) // 2
    first = loadgen.call("sockets_connect", url=server.url, set="mem", users=users[:half], timeout=600)
    time.sleep(settle)
    at_half = server.rss_kib()
    second = loadgen.call("sockets_connect", url=server.url, set="mem", users=users[half:], timeout=600)
    time.sleep(settle)
    at_full = server.rss_kib()
    status = loadgen.call("sockets_status", set="mem")
    loadgen.call("sockets_close", set="mem")
    count = len(users)
    return {
        "sockets": count,
        "connected": status["connected"],
        "failed": warm["failed"] + first["failed"] + second["failed"],
        "connect_seconds": first["seconds"] + second["seconds"],
        "rss_before_kib": before,
        "rss_half_kib": at_half,
        "rss_full_kib": at_full,
        "per_socket_kib": (at_full - before) / count,
        "marginal_per_socket_kib": (at_full - at_half) / (count - half),
    }


def plot(figure: Any, rounds: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """RSS against sockets for every server, and the per-socket medians."""
    left, right = figure.subplots(1, 2)
    colours = {"service": "tab:blue", "bare": "tab:gray"}
    for r in rounds:
        xs = [0, r["sockets"] // 2, r["sockets"]]
        ys = [r["rss_before_kib"] / 1024, r["rss_half_kib"] / 1024, r["rss_full_kib"] / 1024]
        left.plot(xs, ys, "o-", color=colours[r["arm"]], alpha=0.7, label=f"{r['arm']} rep {r['repetition']}")
    left.set_xlabel("idle websockets")
    left.set_ylabel("worker RSS (MiB)")
    left.legend(fontsize=7)
    left.grid(True, alpha=0.3)
    names = ["service", "bare"]
    right.bar(names, [summary[n]["per_socket_kib"] or 0 for n in names], color=[colours[n] for n in names])
    right.axhline(GOAL_KIB, color="red", linestyle=":", label=f"goal: under {GOAL_KIB} KiB")
    right.set_ylabel("KiB per idle socket (median)")
    right.legend(fontsize=8)


def run(ctx: Context) -> dict[str, Any]:
    """Run the benchmark; write bench/results/memory.{json,png}."""
    count = ctx.pick(100, 1000)
    repetitions = 3
    settle = ctx.pick(0.3, 2.0)
    with ExitStack() as stack:
        database = ctx.database(stack, "memory")
        users = socket_users(seed_users(database, count))
        env = ctx.server_env(database)
        servers = {
            "service": [ctx.server(stack, f"memory-service-{i}", env) for i in range(repetitions)],
            "bare": [
                ctx.server(stack, f"memory-bare-{i}", env, app_module="bench.bare_socketio:app")
                for i in range(repetitions)
            ],
        }
        ctx.launcher.start_many([s for group in servers.values() for s in group])
        loadgen = LoadGen(ctx.workdir, "loadgen-memory")
        stack.callback(loadgen.close)
        rounds = []
        for repetition in range(repetitions):
            order = ["service", "bare"] if repetition % 2 == 0 else ["bare", "service"]
            for arm in order:
                server = servers[arm][repetition]
                measured = measure(loadgen, server, users, settle)
                server.stop()  # a used server is not measured again
                measured.update(arm=arm, repetition=repetition)
                log(
                    f"  {arm:>7} rep {repetition}: {measured['connected']}/{count} connected in "
                    f"{measured['connect_seconds']:.1f} s, RSS {measured['rss_before_kib']} -> "
                    f"{measured['rss_full_kib']} KiB: {measured['per_socket_kib']:.1f} KiB per socket"
                )
                rounds.append(measured)
        alarms = [line for group in servers.values() for s in group for line in s.alarms()]
    summary: dict[str, Any] = {}
    for arm in ("service", "bare"):
        mine = [r for r in rounds if r["arm"] == arm]
        summary[arm] = {
            "per_socket_kib": median(r["per_socket_kib"] for r in mine),
            "per_socket_each_kib": [r["per_socket_kib"] for r in mine],
            "marginal_per_socket_kib": median(r["marginal_per_socket_kib"] for r in mine),
            "rss_before_kib": median(r["rss_before_kib"] for r in mine),
            "rss_full_kib": median(r["rss_full_kib"] for r in mine),
            "all_connected": all(r["connected"] == r["sockets"] for r in mine),
        }
    per = summary["service"]["per_socket_kib"]
    summary["service_to_bare_ratio"] = ratio(per, summary["bare"]["per_socket_kib"])
    summary["server_log_alarms"] = alarms[:10]
    result = {
        "config": {"sockets": count, "repetitions": repetitions, "settle_seconds": settle},
        "summary": summary,
        "goals": [
            goal(
                f"RSS per idle socket at {count} (KiB)",
                f"< {GOAL_KIB}",
                per,
                per is not None and per < GOAL_KIB,
            ),
        ],
        "rounds": rounds,
    }
    write_result(ctx, NAME, result, lambda fig: plot(fig, rounds, summary))
    return result
