"""7. Capacity: how many simulated users one 2-core machine serves with p99 send->receipt < 100 ms.

One gunicorn process (`-k eventlet -w 1`). PROCESSES = 2 runs two on one Redis queue
and rate-limit store instead, users split evenly (each user's socket and REST calls go
to its process, as with sticky sessions); on 2 cores that served no more users (1,500
either way on 2026-11-25): every process decodes every event published on the queue.

Each simulated user (in the load generator) has a connected websocket and its
conversation open, and behaves like the web UI: every 30 s (random phase) it types
(`typing` true, 2 s before), stops typing and sends (`clientMessageId`, `maxCost`);
on every message from its partner its socket acks it (`message:ack`) and the open
chat posts a read receipt (POST /api/messages/read); one send in five also reloads
the page (GET quota, conversation list, latest page). The server emits message:new to
both users, quota:update, typing, message:delivered and message:read events.

Steps of rising user counts; at each step, rounds alternate (3 repetitions) with the
ceiling: the same schedule through POST /bench/ceiling/emit (no database, no acks or
reads), the floor of the fan-out with that many sockets. A step passes when the
median p99 from scheduled send to the partner's receipt is under 100 ms and no
accepted message was lost (every one arrived at the partner's socket) and no socket
dropped. The search stops at the first failing step (then tries one step halfway).
"""

import time
from contextlib import ExitStack
from typing import Any

from support.databases import RedisDatabase
from support.settings import queue_settings

from bench.fanout import socket_users
from bench.harness import (
    Context,
    CpuMeter,
    LoadGen,
    goal,
    log,
    median,
    postgres_pids,
    redis_pid,
    seed_users,
    write_result,
)

NAME = "capacity"
LIMIT_MS = 100.0
GOAL_USERS = 2000
PROCESSES = 1


def step(
    loadgen: LoadGen,
    meter: CpuMeter,
    users: int,
    repetitions: int,
    interval: float,
    duration: float,
    ceiling_duration: float,
    typing_lead: float,
) -> dict[str, Any]:
    """Interleaved full-mix and ceiling rounds with `users` users; the step's medians."""
    rounds = []
    for repetition in range(repetitions):
        order = [False, True] if repetition % 2 == 0 else [True, False]
        for ceiling in order:
            meter.start()
            answer = loadgen.call(
                "capacity",
                set="capacity",
                users=users,
                interval=interval,
                duration=ceiling_duration if ceiling else duration,
                ceiling=ceiling,
                connections=64,
                typing_lead=typing_lead,
                timeout=duration + 300,
            )
            answer.update(repetition=repetition, cpu_pct=meter.stop(), arm="ceiling" if ceiling else "mix")
            lat = answer["latency_ms"]
            log(
                f"  {users:5d} users {answer['arm']:>7} rep {repetition}: {answer['accepted']} sent, "
                f"p50 {lat['p50'] or 0:.1f} ms, p99 {lat['p99'] or 0:.1f} ms, lost {answer['lost']}, "
                f"dropped {answer['disconnected']}, lag p99 {answer['loop_lag_ms']['p99'] or 0:.1f} ms, "
                f"cpu {answer['cpu_pct']}"
            )
            rounds.append(answer)

    def arm(name: str) -> dict[str, Any]:
        mine = [r for r in rounds if r["arm"] == name]
        statuses: dict[str, int] = {}
        for r in mine:
            for key, n in r["statuses"].items():
                statuses[key] = statuses.get(key, 0) + n
        return {
            "p50_ms": median(r["latency_ms"]["p50"] for r in mine),
            "p99_ms": median(r["latency_ms"]["p99"] for r in mine),
            "p99_each_ms": [r["latency_ms"]["p99"] for r in mine],
            "messages": sum(r["accepted"] for r in mine),
            "lost": sum(r["lost"] for r in mine),
            "dropped_sockets": max(r["disconnected"] for r in mine),
            "failed_requests": sum(n for key, n in statuses.items() if not key.split(":")[1].startswith("2")),
            "statuses": statuses,
            "server_cpu_pct": median(r["cpu_pct"].get("server") for r in mine),
            "machine_busy_pct": median(r["cpu_pct"].get("machine_busy_pct") for r in mine),
            "loadgen_lag_p99_ms": median(r["loop_lag_ms"]["p99"] for r in mine),
        }

    mix, ceiling = arm("mix"), arm("ceiling")
    passed = (
        mix["p99_ms"] is not None
        and mix["p99_ms"] < LIMIT_MS
        and mix["lost"] == 0
        and mix["dropped_sockets"] == 0
        and mix["failed_requests"] == 0
        and mix["messages"] > 0
    )
    return {"users": users, "passed": passed, "mix": mix, "ceiling": ceiling, "rounds": rounds}


def plot(figure: Any, steps: list[dict[str, Any]], capacity: int | None) -> None:
    """p50/p99 against users for the mix and the ceiling; the capacity found."""
    left, right = figure.subplots(1, 2)
    ordered = sorted(steps, key=lambda s: s["users"])
    xs = [s["users"] for s in ordered]
    for name, colour in (("mix", "tab:blue"), ("ceiling", "tab:gray")):
        left.plot(xs, [s[name]["p99_ms"] for s in ordered], "o-", color=colour, label=f"{name} p99")
        left.plot(
            xs, [s[name]["p50_ms"] for s in ordered], "o--", color=colour, alpha=0.6, label=f"{name} p50"
        )
    left.axhline(LIMIT_MS, color="red", linestyle=":", label="100 ms")
    if capacity:
        left.axvline(capacity, color="green", linestyle=":", label=f"capacity {capacity}")
    left.axvline(GOAL_USERS, color="orange", linestyle=":", label=f"goal {GOAL_USERS}")
    left.set_yscale("log")
    left.set_xlabel("simulated users (one socket each)")
    left.set_ylabel("send -> partner's receipt (ms, log)")
    left.legend(fontsize=7)
    left.grid(True, which="both", alpha=0.3)
    right.plot(
        xs,
        [s["mix"]["server_cpu_pct"] for s in ordered],
        "o-",
        color="tab:blue",
        label="servers CPU % (mix, sum of processes)",
    )
    right.plot(
        xs,
        [s["mix"]["machine_busy_pct"] for s in ordered],
        "o-",
        color="tab:red",
        label="machine busy % (2 cores)",
    )
    right.plot(
        xs,
        [s["ceiling"]["server_cpu_pct"] for s in ordered],
        "o--",
        color="tab:gray",
        label="servers CPU % (ceiling)",
    )
    right.set_xlabel("simulated users")
    right.set_ylabel("%")
    right.legend(fontsize=7)
    right.grid(True, alpha=0.3)


def run(ctx: Context) -> dict[str, Any]:
    """Run the benchmark; write bench/results/capacity.{json,png}."""
    plan = ctx.pick([20, 40], [500, 1000, 2000, 3000, 4000])
    interval = ctx.pick(2.0, 30.0)
    duration = ctx.pick(1.5, 15.0)
    ceiling_duration = ctx.pick(1.0, 6.0)
    typing_lead = ctx.pick(0.3, 2.0)
    repetitions = 3
    budget = ctx.pick(60.0, 360.0)  # seconds for the whole search; no new step starts after it
    began = time.monotonic()
    steps: list[dict[str, Any]] = []
    with ExitStack() as stack:
        database = ctx.database(stack, "capacity")
        redis_db = RedisDatabase()
        stack.callback(redis_db.release)
        env = ctx.server_env(database, **(queue_settings(redis_db.url) if PROCESSES > 1 else {}))
        servers = [ctx.server(stack, f"capacity-{n + 1}", env) for n in range(PROCESSES)]
        ctx.launcher.start_many(servers)
        users = [
            {**user, "url": servers[i % PROCESSES].url}
            for i, user in enumerate(socket_users(seed_users(database, max(plan))))
        ]
        loadgen = LoadGen(ctx.workdir, "loadgen-capacity")
        stack.callback(loadgen.close)
        redis_server = redis_pid()
        meter = CpuMeter(
            {
                "server": lambda: [pid for server in servers for pid in server.worker_pids()],
                "postgres": postgres_pids(database),
                "redis": lambda: [redis_server] if redis_server else [],
                "loadgen": lambda: [loadgen.pid],
            }
        )
        connected = 0

        def run_step(count: int) -> dict[str, Any]:
            nonlocal connected
            if count > connected:
                answer = loadgen.call(
                    "sockets_connect",
                    url=servers[0].url,
                    set="capacity",
                    users=users[connected:count],
                    timeout=600,
                )
                log(
                    f"{NAME}: +{answer['connected']} sockets in {answer['seconds']:.1f} s "
                    f"(failed {answer['failed']})"
                )
                connected = count
            found = step(
                loadgen, meter, count, repetitions, interval, duration, ceiling_duration, typing_lead
            )
            steps.append(found)
            return found

        last_pass, first_fail = 0, None
        for count in plan:
            if time.monotonic() - began > budget:
                log(f"{NAME}: time budget spent; stopping before {count} users")
                break
            if run_step(count)["passed"]:
                last_pass = count
            else:
                first_fail = count
                break
        middle = (last_pass + first_fail) // 2 if first_fail else None
        if (
            middle
            and middle not in (last_pass, first_fail)
            and not ctx.quick
            and time.monotonic() - began < budget
        ):
            middle -= middle % 2
            loadgen.call("sockets_close", set="capacity")  # the middle step needs fewer sockets than the last
            connected = 0
            if run_step(middle)["passed"]:
                last_pass = middle
        rss = sum(server.rss_kib() for server in servers)
        alarms = [alarm for server in servers for alarm in server.alarms()]
    capacity = last_pass or None
    rounds = [r | {"users": s["users"]} for s in steps for r in s.pop("rounds")]
    result = {
        "config": {
            "steps": plan,
            "interval_seconds": interval,
            "typing_lead_seconds": typing_lead,
            "round_seconds": duration,
            "ceiling_round_seconds": ceiling_duration,
            "repetitions": repetitions,
            "processes": f"{PROCESSES} x gunicorn -k eventlet -w 1"
            + (", one Redis queue" if PROCESSES > 1 else ""),
            "http_connections": 64,
            "mix_per_send": "typing on + typing off (socket), send (REST), "
            "partner: ack (socket) + read (REST); "
            "1 send in 5 also GETs quota, conversations and the latest page",
        },
        "summary": {
            "capacity_users": capacity,
            "steps": steps,
            "server_rss_kib_at_end": rss,
            "server_log_alarms": alarms[:10],
        },
        "goals": [
            goal(
                "users with p99 send->receipt < 100 ms and nothing lost",
                f">= {GOAL_USERS}",
                capacity,
                capacity is not None and capacity >= GOAL_USERS,
            )
        ],
        "rounds": rounds,
    }
    write_result(ctx, NAME, result, lambda fig: plot(fig, steps, capacity))
    return result
