"""6. Several processes: 1 vs 2 gunicorn processes sharing a Redis queue, on fan-out and on sends.

Two `gunicorn -k eventlet -w 1` processes on different loopback ports, one PostgreSQL
database, one Redis DB for the Socket.IO queue and the rate limits (as the README
asks of a multi-process deployment). Both run throughout; the "1 process" rounds
simply send everything to the first one (the second still receives every published
event from Redis, as it would in a deployment). Rounds rotate between:

- fanout_1p: N sockets all on process 1; 32 senders in a closed loop, each sending
  over REST and waiting for the partner's socket to receive it;
- fanout_2p: N other users' sockets split across the processes (partners always on
  the other one), each sender's REST request going to the process that holds its own
  socket, so every message crosses processes through Redis;
- send_1p / send_2p: 32 keep-alive connections of paid sends by many users, all to
  process 1 or split evenly.

The CPU each process, PostgreSQL, Redis and the load generator used in each round is
recorded: on 2 cores it says what bounds the second process.
"""

from contextlib import ExitStack
from typing import Any

from support.databases import RedisDatabase
from support.settings import queue_settings

from bench.fanout import socket_users
from bench.harness import (
    Context,
    CpuMeter,
    LoadGen,
    cdf,
    goal,
    log,
    median,
    postgres_pids,
    ratio,
    redis_pid,
    seed_users,
    send_request,
    write_result,
)

NAME = "processes"
CONCURRENCY = 32
ARMS = ("fanout_1p", "fanout_2p", "send_1p", "send_2p")


def plot(figure: Any, rounds: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """Throughput per arm (bars: medians, dots: rounds) and the fan-out latency CDFs."""
    left, middle, right = figure.subplots(1, 3)
    colours = {
        "fanout_1p": "tab:blue",
        "fanout_2p": "tab:green",
        "send_1p": "tab:blue",
        "send_2p": "tab:green",
    }
    for axis, names, title in (
        (left, ["fanout_1p", "fanout_2p"], f"fan-out: 2p/1p = {summary['fanout_ratio'] or 0:.2f} (goal 1.5)"),
        (middle, ["send_1p", "send_2p"], f"sends: 2p/1p = {summary['send_ratio'] or 0:.2f}"),
    ):
        for i, arm in enumerate(names):
            values = [r["throughput"] for r in rounds if r["arm"] == arm]
            axis.scatter([i] * len(values), values, color=colours[arm], alpha=0.6)
            axis.bar(i, summary[arm]["throughput_per_s"] or 0, color=colours[arm], alpha=0.35)
        axis.set_xticks(range(len(names)), names)
        axis.set_ylabel("per second (messages received / sends answered)")
        axis.set_title(title, fontsize=9)
    for arm in ("fanout_1p", "fanout_2p"):
        samples = [v for r in rounds if r["arm"] == arm for v in r["latency_sample_ms"]]
        cdf(right, samples, arm, color=colours[arm])
    right.legend(fontsize=8)
    right.set_title("fan-out: send -> receipt latency (closed loop)", fontsize=9)


def run(ctx: Context) -> dict[str, Any]:
    """Run the benchmark; write bench/results/processes.{json,png}."""
    sockets = ctx.pick(64, 200)
    repetitions = 3
    duration = ctx.pick(1.0, 8.0)
    with ExitStack() as stack:
        database = ctx.database(stack, "processes")
        redis_db = RedisDatabase()
        stack.callback(redis_db.release)
        one_process = seed_users(database, sockets, prefix="o")
        two_processes = seed_users(database, sockets, prefix="t")
        senders = seed_users(database, ctx.pick(128, 1024), daily_free_limit=0, prefix="s")
        env = ctx.server_env(database, **queue_settings(redis_db.url))
        first, second = ctx.server(stack, "process-1", env), ctx.server(stack, "process-2", env)
        ctx.launcher.start_many([first, second])
        loadgen = LoadGen(ctx.workdir, "loadgen-processes")
        stack.callback(loadgen.close)
        home = [first.url if i % 2 == 0 else second.url for i in range(sockets)]
        connected = [
            loadgen.call("sockets_connect", url=first.url, set="1p", users=socket_users(one_process)),
            loadgen.call(
                "sockets_connect",
                url=first.url,
                set="2p",
                users=[{**u, "url": home[i]} for i, u in enumerate(socket_users(two_processes))],
            ),
        ]
        log(f"{NAME}: sockets {[c['connected'] for c in connected]} of {sockets} each, on 1 and 2 processes")
        redis_server = redis_pid()
        meter = CpuMeter(
            {
                "process_1": first.worker_pids,
                "process_2": second.worker_pids,
                "postgres": postgres_pids(database),
                "redis": lambda: [redis_server] if redis_server else [],
                "loadgen": lambda: [loadgen.pid],
            }
        )
        fanout = {
            "fanout_1p": [
                {**send_request(u), "url": first.url, "receiver": one_process[u.partner].id}
                for u in one_process
            ],
            "fanout_2p": [
                {**send_request(u), "url": home[i], "receiver": two_processes[u.partner].id}
                for i, u in enumerate(two_processes)
            ],
        }
        sends = {
            "send_1p": [{**send_request(u), "url": first.url} for u in senders],
            "send_2p": [
                {**send_request(u), "url": first.url if i % 2 == 0 else second.url}
                for i, u in enumerate(senders)
            ],
        }
        rounds = []
        for repetition in range(repetitions):
            order = list(ARMS) if repetition % 2 == 0 else list(reversed(ARMS))
            for arm in order:
                meter.start()
                if arm in fanout:
                    answer = loadgen.call(
                        "fanout_closed",
                        url=first.url,
                        requests=fanout[arm],
                        concurrency=CONCURRENCY,
                        duration=duration,
                        warmup=ctx.pick(0.3, 1.0),
                        timeout=duration + 120,
                    )
                else:
                    answer = loadgen.call(
                        "http_closed",
                        url=first.url,
                        requests=sends[arm],
                        connections=CONCURRENCY,
                        duration=duration,
                        warmup=ctx.pick(0.3, 1.0),
                        timeout=duration + 120,
                    )
                answer.update(arm=arm, repetition=repetition, cpu_pct=meter.stop())
                log(
                    f"  {arm:>9} rep {repetition}: {answer['throughput']:.0f}/s, "
                    f"p99 {answer['latency_ms']['p99'] or 0:.1f} ms, lost {answer.get('lost', 0)}, "
                    f"statuses {answer['statuses']}, cpu {answer['cpu_pct']}"
                )
                rounds.append(answer)
        still = [loadgen.call("sockets_status", set=name) for name in ("1p", "2p")]
        alarms = first.alarms() + second.alarms()
    summary: dict[str, Any] = {}
    for arm in ARMS:
        mine = [r for r in rounds if r["arm"] == arm]
        cpu_keys = ("process_1", "process_2", "postgres", "redis", "loadgen", "machine_busy_pct")
        summary[arm] = {
            "throughput_per_s": median(r["throughput"] for r in mine),
            "throughput_each": [r["throughput"] for r in mine],
            "p50_ms": median(r["latency_ms"]["p50"] for r in mine),
            "p99_ms": median(r["latency_ms"]["p99"] for r in mine),
            "lost": sum(r.get("lost", 0) for r in mine),
            "non_2xx": sum(n for r in mine for s, n in r["statuses"].items() if not s.startswith("2")),
            "cpu_pct": {key: median(r["cpu_pct"].get(key) for r in mine) for key in cpu_keys},
        }
    summary["fanout_ratio"] = ratio(
        summary["fanout_2p"]["throughput_per_s"], summary["fanout_1p"]["throughput_per_s"]
    )
    summary["send_ratio"] = ratio(
        summary["send_2p"]["throughput_per_s"], summary["send_1p"]["throughput_per_s"]
    )
    summary["sockets_still_connected"] = [s["connected"] for s in still]
    summary["server_log_alarms"] = alarms[:10]
    fanout_ratio, send_ratio = summary["fanout_ratio"], summary["send_ratio"]
    result = {
        "config": {
            "sockets_per_setup": sockets,
            "concurrency": CONCURRENCY,
            "repetitions": repetitions,
            "round_seconds": duration,
            "queue": "Redis (Socket.IO message queue and rate limits)",
        },
        "summary": summary,
        "goals": [
            goal(
                "fan-out throughput 2 processes / 1",
                ">= 1.5",
                fanout_ratio,
                fanout_ratio is not None and fanout_ratio >= 1.5,
            ),
            goal("send throughput 2 processes / 1", "report", send_ratio, None),
        ],
        "rounds": rounds,
    }
    write_result(ctx, NAME, result, lambda fig: plot(fig, rounds, summary))
    return result
