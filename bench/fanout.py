"""3. Realtime fan-out: REST send -> socket receipt with 200 connected sockets, open loop.

200 users in 100 conversations, each with one websocket (python-socketio AsyncClient).
Sends are scheduled at a fixed rate (round robin over the users, each to its partner);
latency runs from a send's *scheduled* time to the moment the partner's socket gets
its `message:new`, so a queue anywhere (load generator, server, PostgreSQL) counts.
Rounds alternate with the ceiling: POST /bench/ceiling/emit, which emits the same
event to the same room with no auth and no database (HTTP + emit + websocket only).

Goal rate first (3 repetitions each), then a sweep of rising rates to find the highest
rate whose median p99 stays under 100 ms.
"""

from contextlib import ExitStack
from typing import Any

from bench.harness import (
    Context,
    CpuMeter,
    LoadGen,
    cdf,
    ceiling_emit_request,
    goal,
    log,
    median,
    seed_users,
    send_request,
    start_one_server,
    write_result,
)

NAME = "fanout"
GOAL_RATE = 200.0
SWEEP_LIMIT_MS = 100.0


def socket_users(users: list[Any], url: str | None = None) -> list[dict[str, Any]]:
    """What the load generator needs to open (and simulate) one socket per user."""
    return [
        {
            "id": u.id,
            "token": u.token,
            "index": i,
            "partner": u.partner,
            "conversation_id": u.conversation_id,
            **({"url": url} if url else {}),
        }
        for i, u in enumerate(users)
    ]


def rounds_at(
    loadgen: LoadGen,
    url: str,
    meter: CpuMeter,
    arms: dict[str, list[dict[str, Any]]],
    rate: float,
    repetitions: int,
    duration: float,
) -> list[dict[str, Any]]:
    """Open-loop rounds of each arm at one rate, interleaved."""
    rounds = []
    names = list(arms)
    for repetition in range(repetitions):
        order = names if repetition % 2 == 0 else list(reversed(names))
        for arm in order:
            meter.start()
            answer = loadgen.call(
                "fanout_open",
                url=url,
                requests=arms[arm],
                rate=rate,
                duration=duration,
                timeout=duration + 180,
            )
            answer.update(arm=arm, repetition=repetition, cpu_pct=meter.stop())
            lat = answer["latency_ms"]
            log(
                f"  {arm:>7} {rate:5.0f}/s rep {repetition}: p50 {lat['p50'] or 0:.1f} ms, "
                f"p99 {lat['p99'] or 0:.1f} ms, lost {answer['lost']}, statuses {answer['statuses']}, "
                f"cpu {answer['cpu_pct']}"
            )
            rounds.append(answer)
    return rounds


def at_rate(rounds: list[dict[str, Any]], arm: str) -> dict[str, Any]:
    """Medians of one arm's rounds (and their losses)."""
    mine = [r for r in rounds if r["arm"] == arm]
    return {
        "p50_ms": median(r["latency_ms"]["p50"] for r in mine),
        "p99_ms": median(r["latency_ms"]["p99"] for r in mine),
        "p99_each_ms": [r["latency_ms"]["p99"] for r in mine],
        "lost": sum(r["lost"] for r in mine),
        "non_2xx": sum(n for r in mine for s, n in r["statuses"].items() if not s.startswith("2")),
        "server_cpu_pct": median(r["cpu_pct"].get("server") for r in mine),
        "loadgen_loop_lag_p99_ms": median(r["loop_lag_ms"]["p99"] for r in mine),
    }


def plot(
    figure: Any, goal_rounds: list[dict[str, Any]], sweep: list[dict[str, Any]], best: float | None
) -> None:
    """Latency CDFs at the goal rate; p50/p99 against the rate for both arms."""
    left, right = figure.subplots(1, 2)
    for arm, colour in (("ceiling", "tab:gray"), ("send", "tab:blue")):
        samples = [v for r in goal_rounds if r["arm"] == arm for v in r["latency_sample_ms"]]
        cdf(left, samples, arm, color=colour)
    left.axvline(10, color="orange", linestyle=":", label="10 ms (p50 goal)")
    left.axvline(50, color="red", linestyle=":", label="50 ms (p99 goal)")
    left.legend(fontsize=8)
    left.set_title(f"send -> socket receipt at {GOAL_RATE:.0f} msg/s", fontsize=9)
    for arm, colour in (("ceiling", "tab:gray"), ("send", "tab:blue")):
        points = [(s["rate"], s[arm]) for s in sweep if arm in s]
        if not points:
            continue
        rates = [p[0] for p in points]
        right.plot(rates, [p[1]["p99_ms"] for p in points], "o-", color=colour, label=f"{arm} p99")
        right.plot(
            rates, [p[1]["p50_ms"] for p in points], "o--", color=colour, alpha=0.6, label=f"{arm} p50"
        )
    right.axhline(SWEEP_LIMIT_MS, color="red", linestyle=":", label="100 ms")
    if best:
        right.axvline(best, color="green", linestyle=":", label=f"highest rate under 100 ms: {best:.0f}/s")
    right.set_yscale("log")
    right.set_xlabel("messages per second (open loop)")
    right.set_ylabel("latency (ms, log)")
    right.legend(fontsize=7)
    right.grid(True, which="both", alpha=0.3)
    right.set_title("median over repetitions, by rate", fontsize=9)


def run(ctx: Context) -> dict[str, Any]:
    """Run the benchmark; write bench/results/fanout.{json,png}."""
    sockets = ctx.pick(50, 200)
    repetitions = 3
    goal_duration = ctx.pick(1.0, 6.0)
    sweep_duration = ctx.pick(1.0, 4.0)
    sweep_rates = ctx.pick([100.0], [25.0, 50.0, 100.0, 150.0, 300.0, 400.0, 500.0, 650.0, 800.0, 1000.0])
    with ExitStack() as stack:
        database = ctx.database(stack, "fanout")
        users = seed_users(database, sockets, daily_free_limit=20)
        server, loadgen, meter = start_one_server(ctx, stack, database, "fanout")
        connect = loadgen.call("sockets_connect", url=server.url, set="fanout", users=socket_users(users))
        log(f"{NAME}: {connect['connected']} sockets connected in {connect['seconds']:.1f} s")
        arms = {
            "ceiling": [
                {**ceiling_emit_request(u, users[u.partner]), "receiver": users[u.partner].id} for u in users
            ],
            "send": [{**send_request(u), "receiver": users[u.partner].id} for u in users],
        }
        goal_rounds = rounds_at(loadgen, server.url, meter, arms, GOAL_RATE, repetitions, goal_duration)
        at_goal_rate = {"rate": GOAL_RATE, **{arm: at_rate(goal_rounds, arm) for arm in arms}}
        sweep = [at_goal_rate]
        sweep_rounds: list[dict[str, Any]] = []
        for rate in sorted({*sweep_rates, GOAL_RATE}):  # rising; stop at the first rate that crosses
            if rate == GOAL_RATE:
                found_rate = at_goal_rate
            else:
                found = rounds_at(loadgen, server.url, meter, arms, rate, repetitions, sweep_duration)
                sweep_rounds += found
                found_rate = {"rate": rate, **{arm: at_rate(found, arm) for arm in arms}}
                sweep.append(found_rate)
            if (found_rate["send"]["p99_ms"] or 1e9) > SWEEP_LIMIT_MS or found_rate["send"]["lost"]:
                break
        still = loadgen.call("sockets_status", set="fanout")
        alarms = server.alarms()
    sweep.sort(key=lambda s: s["rate"])
    under = [
        s["rate"] for s in sweep if (s["send"]["p99_ms"] or 1e9) <= SWEEP_LIMIT_MS and s["send"]["lost"] == 0
    ]
    best = None
    for s in sweep:  # the highest rate before the first one that crosses
        if s["rate"] in under:
            best = s["rate"]
        else:
            break
    at_goal = sweep[[s["rate"] for s in sweep].index(GOAL_RATE)]
    p50, p99 = at_goal["send"]["p50_ms"], at_goal["send"]["p99_ms"]
    lost = sum(s["send"]["lost"] for s in sweep if s["rate"] in under)
    result = {
        "config": {
            "sockets": sockets,
            "connected": connect["connected"],
            "connect_seconds": connect["seconds"],
            "goal_rate_per_s": GOAL_RATE,
            "repetitions": repetitions,
            "goal_round_seconds": goal_duration,
            "sweep_round_seconds": sweep_duration,
            "sweep_rates": sweep_rates,
            "workers": 1,
        },
        "summary": {
            "at_goal_rate": at_goal,
            "send_p50_over_ceiling_p50": (p50 / at_goal["ceiling"]["p50_ms"])
            if p50 and at_goal["ceiling"]["p50_ms"]
            else None,
            "highest_rate_p99_under_100ms": best,
            "sweep": sweep,
            "sockets_still_connected": still["connected"],
            "lost_at_rates_under_limit": lost,
            "server_log_alarms": alarms[:10],
        },
        "goals": [
            goal(f"p50 send->receipt at {GOAL_RATE:.0f}/s (ms)", "< 10", p50, p50 is not None and p50 < 10),
            goal(f"p99 send->receipt at {GOAL_RATE:.0f}/s (ms)", "< 50", p99, p99 is not None and p99 < 50),
            goal("highest rate with p99 < 100 ms (msg/s)", "report", best, None),
        ],
        "rounds": goal_rounds + sweep_rounds,
    }
    write_result(ctx, NAME, result, lambda fig: plot(fig, goal_rounds, sweep, best))
    return result
