"""Measure candidate service changes before anyone edits app/: `python -m bench.experiments`.

Not part of `make bench`. Starts a fresh server per variant and round (bench/wsgi_bench.py applies
BENCH_EXPERIMENT in that process only; app/ on disk is untouched), one at a time on
one database, and runs the paid-send load of benchmark 1 (32 keep-alive connections,
many users) against each in turn, interleaved and repeated; reports each variant's
median throughput and p99 relative to the unchanged service, with the PostgreSQL
transactions and new sessions per request (from pg_stat_database).
"""

import argparse
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.harness import (
    PG_ADMIN_URL,
    Context,
    CpuMeter,
    LoadGen,
    Postgres,
    Server,
    goal,
    log,
    machine_info,
    median,
    ratio,
    seed_users,
    send_request,
    server_env,
    write_result,
)

NAME = "experiments"
VARIANTS: dict[str, dict[str, str]] = {
    "service as is": {},
    "ping before every use": {"DB_PING_IDLE_SECONDS": "0"},
    "pool 40": {"DB_POOL_SIZE": "40"},
}


def database_counters(database_url: str) -> dict[str, int]:
    """Transactions and sessions PostgreSQL counted for the database so far."""
    name = database_url.rsplit("/", 1)[1]
    engine = sa.create_engine(PG_ADMIN_URL, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT xact_commit + xact_rollback, sessions FROM pg_stat_database WHERE datname = :d"),
            {"d": name},
        ).one()
    engine.dispose()
    return {"transactions": int(row[0]), "sessions": int(row[1])}


def plot(figure: Any, summary: dict[str, Any]) -> None:
    """Throughput relative to the service as is, per variant."""
    left, right = figure.subplots(1, 2)
    names = list(summary["variants"])
    left.barh(names, [summary["variants"][n]["throughput_vs_service"] or 0 for n in names], color="tab:blue")
    left.axvline(1.0, color="gray", linestyle=":")
    left.set_xlabel("send throughput / service as is (median)")
    left.invert_yaxis()
    right.barh(names, [summary["variants"][n]["p99_ms"] or 0 for n in names], color="tab:red")
    right.set_xlabel("p99 ms (32 connections, saturated)")
    right.invert_yaxis()


def memory_profile(workdir: Path, postgres: Postgres, sockets: int, output: Path) -> None:
    """Where a server's memory goes per idle socket: tracemalloc's diff after `sockets` connect."""
    import json
    import time
    import urllib.request

    from bench.fanout import socket_users

    with ExitStack() as stack:
        database = postgres.create("tracemalloc")
        stack.callback(postgres.drop, database)
        users = socket_users(seed_users(database, sockets + 20))
        env = server_env(database, workdir / "instance", BENCH_EXPERIMENT="tracemalloc")
        server = Server("tracemalloc", env, workdir)
        stack.callback(server.stop)
        server.start()
        loadgen = LoadGen(workdir, "loadgen-tracemalloc")
        stack.callback(loadgen.close)

        def get(action: str) -> dict[str, Any]:
            with urllib.request.urlopen(f"{server.url}/bench/ceiling/tracemalloc/{action}", timeout=120) as r:
                return json.loads(r.read())

        loadgen.call("sockets_connect", url=server.url, set="warm", users=users[:20])
        loadgen.call("sockets_close", set="warm")
        time.sleep(1)
        get("baseline")
        rss_before = server.rss_kib()
        loadgen.call("sockets_connect", url=server.url, set="mem", users=users[20:], timeout=600)
        time.sleep(2)
        rss_after = server.rss_kib()
        diff = get("diff")
    lines = [
        f"# tracemalloc: {sockets} idle sockets connected to one worker "
        "(the service, with BENCH_EXPERIMENT=tracemalloc)",
        f"# RSS {rss_before} -> {rss_after} KiB: {(rss_after - rss_before) / sockets:.1f} KiB per socket "
        f"(tracemalloc's own bookkeeping inflates this; the traced figure below does not include it)",
        f"# Python allocations traced since the baseline: {diff['total_kib']:.0f} KiB = "
        f"{diff['total_kib'] / sockets:.1f} KiB per socket",
        "",
        "## by file (KiB per socket, allocations per socket)",
        *[f"{d['kib'] / sockets:7.2f}  {d['count'] / sockets:6.1f}  {d['where']}" for d in diff["by_file"]],
        "",
        "## by line",
        *[f"{d['kib'] / sockets:7.2f}  {d['count'] / sockets:6.1f}  {d['where']}" for d in diff["by_line"]],
    ]
    output.write_text("\n".join(lines) + "\n")
    log(f"wrote {output}")


def main(argv: list[str] | None = None) -> int:
    """Run every variant, interleaved; write bench/results/experiments.{json,png}."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--results", type=Path)
    parser.add_argument(
        "--memory", type=int, metavar="SOCKETS", help="instead: tracemalloc diff of SOCKETS idle sockets"
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-experiments-"))
    if args.memory:
        postgres = Postgres(workdir)
        try:
            results = args.results or Path(__file__).parent / "results"
            memory_profile(workdir, postgres, args.memory, results / "memory_tracemalloc.txt")
        finally:
            postgres.drop_all()
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    postgres = Postgres(workdir)
    ctx = Context(False, args.results or Path(__file__).parent / "results", workdir, machine_info(), postgres)
    rounds = []
    with ExitStack() as stack:
        stack.callback(postgres.drop_all)
        database = postgres.create("experiments")
        users = seed_users(database, 1024, daily_free_limit=0)
        servers = {
            name: Server(f"variant-{i}", server_env(database, workdir / "instance", **extra), workdir)
            for i, (name, extra) in enumerate(VARIANTS.items())
        }
        for server in servers.values():
            stack.callback(server.stop)
        loadgen = LoadGen(workdir, "loadgen-experiments")
        stack.callback(loadgen.close)
        requests = [send_request(u) for u in users]
        names = list(VARIANTS)
        for repetition in range(args.repetitions):
            order = names[repetition % len(names) :] + names[: repetition % len(names)]
            for name in order:
                server = servers[name]
                server.start()  # one at a time: six idle pools would exceed max_connections
                meter = CpuMeter({"server": server.worker_pids})
                before = database_counters(database)
                meter.start()
                answer = loadgen.call(
                    "http_closed",
                    url=server.url,
                    requests=requests,
                    connections=32,
                    duration=args.seconds,
                    warmup=1.0,
                    timeout=args.seconds + 120,
                )
                cpu = meter.stop()
                after = database_counters(database)
                server.stop()
                requests_made = max(answer["requests"], 1)
                answer.update(
                    arm=name,
                    repetition=repetition,
                    cpu_pct=cpu,
                    transactions_per_request=(after["transactions"] - before["transactions"]) / requests_made,
                    new_sessions=after["sessions"] - before["sessions"],
                    server_cpu_ms_per_request=10 * cpu["server"] / max(answer["throughput"], 1e-9),
                )
                log(
                    f"  {name:>16} rep {repetition}: {answer['throughput']:.0f}/s, p99 "
                    f"{answer['latency_ms']['p99']:.0f} ms, "
                    f"{answer['server_cpu_ms_per_request']:.2f} ms CPU/send, "
                    f"{answer['transactions_per_request']:.2f} tx/send, {answer['new_sessions']} new sessions"
                )
                rounds.append(answer)
    variants = {}
    for name in VARIANTS:
        mine = [r for r in rounds if r["arm"] == name]
        variants[name] = {
            "settings": VARIANTS[name],
            "throughput_per_s": median(r["throughput"] for r in mine),
            "p99_ms": median(r["latency_ms"]["p99"] for r in mine),
            "server_cpu_ms_per_send": median(r["server_cpu_ms_per_request"] for r in mine),
            "transactions_per_send": median(r["transactions_per_request"] for r in mine),
            "new_sessions": sum(r["new_sessions"] for r in mine),
        }
    base = variants["service as is"]["throughput_per_s"]
    for value in variants.values():
        value["throughput_vs_service"] = ratio(value["throughput_per_s"], base)
    summary = {"variants": variants}
    best = max(variants.values(), key=lambda v: v["throughput_vs_service"] or 0)
    result = {
        "config": {
            "repetitions": args.repetitions,
            "round_seconds": args.seconds,
            "load": "paid sends, 32 connections",
        },
        "summary": summary,
        "goals": [
            goal("best variant throughput / service as is", "report", best["throughput_vs_service"], None)
        ],
        "rounds": rounds,
    }
    write_result(ctx, NAME, result, lambda fig: plot(fig, summary))
    shutil.rmtree(workdir, ignore_errors=True)
    for name, value in variants.items():
        print(
            f"{name:>16}: {value['throughput_per_s']:.0f}/s ({value['throughput_vs_service']:.2f}x), "
            f"p99 {value['p99_ms']:.0f} ms, {value['server_cpu_ms_per_send']:.2f} ms CPU/send, "
            f"{value['transactions_per_send']:.2f} tx/send, {value['new_sessions']} new sessions"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
