"""1. Send throughput and latency: many users sending over REST, against the bare-INSERT ceiling.

One gunicorn eventlet worker on PostgreSQL; 32 keep-alive connections in a closed loop,
each request from the next of many users (so no two requests in flight share a user's
rows). Rounds alternate (interleaved, the order flipped every repetition) between:

- ceiling: POST /bench/ceiling/insert, one bare INSERT + COMMIT on the app's own pool;
- send: POST /api/messages/send, the full path (JWT + revocation check, validation,
  rate limiter, participants, quota row lock, insert, wallet debit + ledger row: every
  send is paid, the heaviest path), commit, emit;
- send_free: the same with a free slot (no debit, no ledger row).

Reports the medians over the repetitions and send / ceiling.

A saturated closed loop has, by Little's law, latency = connections / throughput, so
its p99 says more about the queue than the service. The latency goal is therefore
also measured under an open loop at half the measured send throughput (ceiling and
send interleaved at the same rate, latency from each request's scheduled time).
"""

from contextlib import ExitStack
from typing import Any

from bench.harness import (
    Context,
    CpuMeter,
    LoadGen,
    cdf,
    ceiling_insert_request,
    goal,
    ledger_mismatches,
    log,
    median,
    ratio,
    seed_users,
    send_request,
    start_one_server,
    write_result,
)

NAME = "send_throughput"
CONNECTIONS = 32
ARMS = ("ceiling", "send", "send_free")


def measure_arms(
    ctx: Context,
    loadgen: LoadGen,
    server_url: str,
    meter: CpuMeter,
    arms: dict[str, list[dict[str, Any]]],
    *,
    connections: dict[str, int],
    repetitions: int,
    duration: float,
) -> list[dict[str, Any]]:
    """Closed-loop rounds of each arm, interleaved, the order reversed every other repetition."""
    rounds = []
    names = list(arms)
    for repetition in range(repetitions):
        order = names if repetition % 2 == 0 else list(reversed(names))
        for arm in order:
            meter.start()
            answer = loadgen.call(
                "http_closed",
                url=server_url,
                requests=arms[arm],
                connections=connections[arm],
                duration=duration,
                warmup=ctx.pick(0.3, 1.0),
                timeout=duration + 120,
            )
            cpu = meter.stop()
            answer.update(arm=arm, repetition=repetition, cpu_pct=cpu)
            log(
                f"  {arm:>10} rep {repetition}: {answer['throughput']:.0f}/s, "
                f"p50 {answer['latency_ms']['p50']:.1f} ms, p99 {answer['latency_ms']['p99']:.1f} ms, "
                f"statuses {answer['statuses']}, cpu {cpu}"
            )
            rounds.append(answer)
    return rounds


def measure_open_loop(
    ctx: Context,
    loadgen: LoadGen,
    server_url: str,
    arms: dict[str, list[dict[str, Any]]],
    *,
    rate: float,
    repetitions: int,
    duration: float,
) -> list[dict[str, Any]]:
    """Open-loop rounds at one rate, the arms interleaved."""
    rounds = []
    names = list(arms)
    for repetition in range(repetitions):
        order = names if repetition % 2 == 0 else list(reversed(names))
        for arm in order:
            answer = loadgen.call(
                "http_open",
                url=server_url,
                requests=arms[arm],
                connections=CONNECTIONS,
                rate=rate,
                duration=duration,
                timeout=duration + 120,
            )
            answer.update(arm=arm, repetition=repetition)
            log(
                f"  open loop {arm:>8} at {rate:.0f}/s rep {repetition}: "
                f"p50 {answer['latency_ms']['p50']:.1f} ms, "
                f"p99 {answer['latency_ms']['p99']:.1f} ms, statuses {answer['statuses']}"
            )
            rounds.append(answer)
    return rounds


def arm_summary(rounds: list[dict[str, Any]], arm: str) -> dict[str, Any]:
    """Medians of one arm over its repetitions, and its non-2xx answers."""
    mine = [r for r in rounds if r["arm"] == arm]
    statuses: dict[str, int] = {}
    for r in mine:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "throughput_per_s": median(r["throughput"] for r in mine),
        "throughput_each": [r["throughput"] for r in mine],
        "p50_ms": median(r["latency_ms"]["p50"] for r in mine),
        "p99_ms": median(r["latency_ms"]["p99"] for r in mine),
        "p99_each_ms": [r["latency_ms"]["p99"] for r in mine],
        "server_cpu_pct": median(r["cpu_pct"].get("server") for r in mine),
        "postgres_cpu_pct": median(r["cpu_pct"].get("postgres") for r in mine),
        "loadgen_cpu_pct": median(r["cpu_pct"].get("loadgen") for r in mine),
        "machine_busy_pct": median(r["cpu_pct"].get("machine_busy_pct") for r in mine),
        "non_2xx": sum(n for s, n in statuses.items() if not s.startswith("2")),
        "server_errors_5xx": sum(n for s, n in statuses.items() if s.startswith("5")),
        "statuses": statuses,
    }


COLOURS = {
    "ceiling": "tab:gray",
    "send": "tab:blue",
    "send_free": "tab:cyan",
    "hot": "tab:red",
    "many": "tab:blue",
}


def plot_arms(
    figure: Any,
    rounds: list[dict[str, Any]],
    summary: dict[str, Any],
    title: str,
    open_rounds: list[dict[str, Any]] | None = None,
) -> None:
    """Throughput of every round (bars, medians marked) and the latency CDFs of each arm."""
    colours = COLOURS
    axes = figure.subplots(1, 3 if open_rounds else 2)
    left, right = axes[0], axes[1]
    names = list(summary)
    for i, arm in enumerate(names):
        values = [r["throughput"] for r in rounds if r["arm"] == arm]
        left.scatter([i] * len(values), values, color=colours.get(arm, "k"), alpha=0.6)
        left.bar(i, summary[arm]["throughput_per_s"] or 0, color=colours.get(arm, "k"), alpha=0.35)
    left.set_xticks(range(len(names)), names)
    left.set_ylabel("requests per second (bars: median; dots: rounds)")
    left.set_title(title, fontsize=9)
    for arm in names:
        samples = [v for r in rounds if r["arm"] == arm for v in r["latency_sample_ms"]]
        cdf(right, samples, f"{arm} (p99 {summary[arm]['p99_ms']:.1f} ms)", color=colours.get(arm, "k"))
    right.axvline(50, color="red", linestyle=":", label="50 ms")
    right.legend(fontsize=8)
    right.set_title("closed loop: latency of every request", fontsize=9)
    if open_rounds:
        third = axes[2]
        for arm in dict.fromkeys(r["arm"] for r in open_rounds):
            samples = [v for r in open_rounds if r["arm"] == arm for v in r["latency_sample_ms"]]
            cdf(third, samples, arm, color=colours.get(arm, "k"))
        third.axvline(50, color="red", linestyle=":", label="50 ms")
        third.legend(fontsize=8)
        third.set_title(f"open loop at {open_rounds[0]['rate']:.0f}/s (from scheduled time)", fontsize=9)


def run(ctx: Context) -> dict[str, Any]:
    """Run the benchmark; write bench/results/send_throughput.{json,png}."""
    users_count = ctx.pick(128, 1024)
    repetitions = 3
    duration = ctx.pick(1.0, 8.0)
    with ExitStack() as stack:
        database = ctx.database(stack, "send")
        paid = seed_users(database, users_count, daily_free_limit=0, prefix="p")
        free = seed_users(database, users_count, daily_free_limit=10**6, prefix="f")
        server, loadgen, meter = start_one_server(ctx, stack, database, "send")
        arms = {
            "ceiling": [ceiling_insert_request(u) for u in paid],
            "send": [send_request(u) for u in paid],
            "send_free": [send_request(u) for u in free],
        }
        log(f"{NAME}: {users_count} paying + {users_count} free users, {CONNECTIONS} connections")
        rounds = measure_arms(
            ctx,
            loadgen,
            server.url,
            meter,
            arms,
            connections=dict.fromkeys(arms, CONNECTIONS),
            repetitions=repetitions,
            duration=duration,
        )
        summary = {arm: arm_summary(rounds, arm) for arm in ARMS}
        open_rate = round(0.5 * (summary["send"]["throughput_per_s"] or 0), 1)
        open_rounds = measure_open_loop(
            ctx,
            loadgen,
            server.url,
            {"ceiling": arms["ceiling"], "send": arms["send"]},
            rate=max(open_rate, 5.0),
            repetitions=repetitions,
            duration=duration,
        )
        mismatches = ledger_mismatches(database)
        alarms = server.alarms()
    open_loop = {
        arm: {
            "rate_per_s": open_rate,
            "p50_ms": median(r["latency_ms"]["p50"] for r in open_rounds if r["arm"] == arm),
            "p99_ms": median(r["latency_ms"]["p99"] for r in open_rounds if r["arm"] == arm),
            "non_2xx": sum(
                n
                for r in open_rounds
                if r["arm"] == arm
                for s, n in r["statuses"].items()
                if not s.startswith("2")
            ),
        }
        for arm in ("ceiling", "send")
    }
    open_p99 = open_loop["send"]["p99_ms"]
    send_ratio = ratio(summary["send"]["throughput_per_s"], summary["ceiling"]["throughput_per_s"])
    free_ratio = ratio(summary["send_free"]["throughput_per_s"], summary["ceiling"]["throughput_per_s"])
    p99 = summary["send"]["p99_ms"]
    result = {
        "config": {
            "users": users_count,
            "connections": CONNECTIONS,
            "repetitions": repetitions,
            "round_seconds": duration,
            "workers": 1,
            "db_pool": "the default (DB_POOL_SIZE 20, no overflow) unless the run's settings say otherwise",
            "send": "paid (daily free limit 0): quota lock, insert, wallet debit, ledger row",
            "send_free": "free slot: quota lock, insert",
        },
        "summary": {
            **summary,
            "send_to_ceiling_ratio": send_ratio,
            "send_free_to_ceiling_ratio": free_ratio,
            "open_loop_at_half_throughput": open_loop,
            "ledger_mismatches": mismatches,
            "server_log_alarms": alarms[:10],
        },
        "goals": [
            goal(
                "send throughput / ceiling",
                ">= 0.60",
                send_ratio,
                send_ratio is not None and send_ratio >= 0.6,
            ),
            goal("send p99 (ms), 32 connections saturated", "< 50", p99, p99 is not None and p99 < 50),
            goal(
                f"send p99 (ms), open loop at {open_rate:.0f}/s (half the throughput)",
                "< 50",
                open_p99,
                open_p99 is not None and open_p99 < 50,
            ),
        ],
        "rounds": rounds,
        "open_loop_rounds": open_rounds,
    }
    write_result(
        ctx,
        NAME,
        result,
        lambda fig: plot_arms(
            fig,
            rounds,
            summary,
            f"{CONNECTIONS} connections, 1 worker: send/ceiling = {send_ratio or 0:.2f} (goal 0.60)",
            open_rounds,
        ),
    )
    return result
