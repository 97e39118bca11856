"""Profile the server under a benchmark's load: `python -m bench.profile SCENARIO [--set KEY=VALUE ...]`.

Scenarios: send (paid sends of many users), send_free, hot (one user's sends), ceiling,
fanout (REST send -> socket receipt, open loop), capacity (the UI-like mix). Starts its
own server and load generator like the benchmarks, records the worker with `py-spy
record --format raw` while the load runs, and writes bench/results/profile_<scenario>.txt:
where the worker's CPU goes, by package, by function (inclusive and self).

Scenario memory is tracemalloc instead of py-spy: where the worker's memory goes per
idle socket (`--users` sockets, BENCH_EXPERIMENT=tracemalloc), written to
bench/results/memory_tracemalloc.txt.
"""

import argparse
import collections
import json
import re
import subprocess
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.fanout import socket_users
from bench.harness import (
    BIN,
    RESULTS,
    Context,
    LoadGen,
    ceiling_insert_request,
    log,
    seed_users,
    send_request,
)
from bench.run import parse_settings

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def package_of(path: str) -> str:
    """A short name for where a frame's code lives."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(("app/", "bench/")) or "/app/" in path:
        parts = path.split("/")
        return "/".join(parts[-3:-1]) if len(parts) > 2 else parts[0]
    if "/lib/python3" in path or path.startswith("<"):
        return "stdlib:" + Path(path).stem
    return path


def summarize(raw: str, top: int = 40) -> str:
    """Where the samples went: by package (self time), by function (inclusive and self)."""
    inclusive: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    app_inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        if not line.strip():
            continue
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = [f for f in stack.split(";") if f]
        names = []
        for frame in frames:
            match = FRAME.match(frame)
            func, path = (match.group("func"), match.group("file")) if match else (frame, "?")
            names.append((f"{func} ({path})", package_of(path)))
        if not names:
            continue
        total += count
        for name in {n for n, _ in names}:
            inclusive[name] += count
        for name in {n for n, p in names if p.startswith("app")}:
            app_inclusive[name] += count
        leaf, package = names[-1]
        self_time[leaf] += count
        packages[package] += count

    def table(counter: collections.Counter[str], n: int) -> list[str]:
        return [f"{100 * c / total:6.1f}%  {name}" for name, c in counter.most_common(n)]

    out = [f"samples: {total} (the worker's active time only; idle waits are not sampled)", ""]
    out += ["## self time by package", *table(packages, 25), ""]
    out += ["## inclusive time of the service's own functions (app/)", *table(app_inclusive, top), ""]
    out += ["## inclusive time by function", *table(inclusive, top), ""]
    out += ["## self time by function", *table(self_time, top)]
    return "\n".join(out) + "\n"


def memory_profile(ctx: Context, sockets: int, output: Path) -> None:
    """Where a server's memory goes per idle socket: tracemalloc's diff after `sockets` connect."""
    with ExitStack() as stack:
        database = ctx.database(stack, "tracemalloc")
        users = socket_users(seed_users(database, sockets + 20))
        env = ctx.server_env(database, BENCH_EXPERIMENT="tracemalloc")
        server = ctx.server(stack, "tracemalloc", env).start()
        loadgen = LoadGen(ctx.workdir, "loadgen-tracemalloc")
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
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n")
    log(f"wrote {output}")


def main(argv: list[str] | None = None) -> int:
    """Run one scenario (py-spy, or tracemalloc for memory) and write its summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    scenarios = ["send", "send_free", "hot", "ceiling", "fanout", "capacity", "memory"]
    parser.add_argument("scenario", choices=scenarios)
    parser.add_argument("--users", type=int, default=2000, help="capacity: simulated users; memory: sockets")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=200.0, help="fanout: messages a second")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--native", action="store_true", help="also sample C frames (py-spy --native)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a server setting")
    args = parser.parse_args(argv)
    ctx = Context.open(False, RESULTS, parse_settings(parser, args.set))
    try:
        if args.scenario == "memory":
            memory_profile(ctx, args.users, args.output or RESULTS / "memory_tracemalloc.txt")
        else:
            py_spy_profile(ctx, args)
    finally:
        ctx.close()
    return 0


def py_spy_profile(ctx: Context, args: argparse.Namespace) -> None:
    """Run one scenario's load under py-spy and write its summary."""
    output = args.output or RESULTS / f"profile_{args.scenario}.txt"
    with ExitStack() as stack:
        database = ctx.database(stack, "profile")
        free_limit = {"send_free": 10**6, "capacity": 20}.get(args.scenario, 0)
        counts = {"fanout": 200, "capacity": args.users}
        users = seed_users(database, counts.get(args.scenario, 512), daily_free_limit=free_limit)
        server = ctx.server(stack, "profile", ctx.server_env(database)).start()
        loadgen = LoadGen(ctx.workdir, "loadgen-profile")
        stack.callback(loadgen.close)
        raw_path = ctx.workdir / "pyspy.raw"
        command = [
            str(BIN / "py-spy"),
            "record",
            "-p",
            str(server.worker_pid()),
            "--format",
            "raw",
            "-r",
            "250",
            *(["--native"] if args.native else ["--nonblocking"]),
            "-d",
            str(int(args.seconds)),
            "-o",
            str(raw_path),
        ]
        answer: dict[str, Any] = {}
        if args.scenario == "capacity":
            loadgen.call(
                "sockets_connect", url=server.url, set="capacity", users=socket_users(users), timeout=600
            )

            def load() -> None:
                answer.update(
                    loadgen.call(
                        "capacity",
                        set="capacity",
                        users=args.users,
                        interval=30.0,
                        duration=args.seconds + 3,
                        ceiling=False,
                        connections=64,
                        typing_lead=2.0,
                        timeout=args.seconds + 300,
                    )
                )
        elif args.scenario == "fanout":
            loadgen.call(
                "sockets_connect",
                url=server.url,
                set="profile",
                users=[{"id": u.id, "token": u.token, "index": i} for i, u in enumerate(users)],
            )
            requests = [{**send_request(u), "receiver": users[u.partner].id} for u in users]

            def load() -> None:
                answer.update(
                    loadgen.call(
                        "fanout_open",
                        url=server.url,
                        requests=requests,
                        rate=args.rate,
                        duration=args.seconds + 3,
                    )
                )
        else:
            if args.scenario == "hot":
                requests = [send_request(users[0])]
                connections = 16
            elif args.scenario == "ceiling":
                requests = [ceiling_insert_request(u) for u in users]
                connections = 32
            else:
                requests = [send_request(u) for u in users]
                connections = 32

            def load() -> None:
                answer.update(
                    loadgen.call(
                        "http_closed",
                        url=server.url,
                        requests=requests,
                        connections=connections,
                        duration=args.seconds + 3,
                    )
                )

        thread = threading.Thread(target=load)
        thread.start()
        log(f"py-spy on worker {server.worker_pid()} for {args.seconds:.0f} s")
        subprocess.run(command, check=True, capture_output=True, timeout=args.seconds + 60)
        thread.join()
        throughput = answer.get("throughput") or answer.get("rate")
        header = (
            f"# py-spy profile of the gunicorn worker: scenario {args.scenario}\n"
            f"# load during the profile: {throughput} /s; latency {answer.get('latency_ms')}\n"
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(header + summarize(raw_path.read_text()))
        log(f"wrote {output}")


if __name__ == "__main__":
    raise SystemExit(main())
