"""Profile the server under a benchmark's load with py-spy: `python -m bench.profile SCENARIO`.

Scenarios: send (paid sends of many users), send_free, hot (one user's sends), ceiling,
fanout (REST send -> socket receipt, open loop). Starts its own server and load
generator like the benchmarks, records the worker with `py-spy record --format raw`
while the load runs, and writes bench/results/profile_<scenario>.txt: where the
worker's CPU goes, by package, by function (inclusive and self).
"""

import argparse
import collections
import re
import shutil
import subprocess
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.fanout import socket_users
from bench.harness import (
    BIN,
    RESULTS,
    LoadGen,
    Postgres,
    Server,
    ceiling_insert_request,
    log,
    seed_users,
    send_request,
    server_env,
)

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


def main(argv: list[str] | None = None) -> int:
    """Run one scenario under py-spy and write its summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=["send", "send_free", "hot", "ceiling", "fanout", "capacity"])
    parser.add_argument("--users", type=int, default=2000, help="capacity: simulated users")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=200.0, help="fanout: messages a second")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--native", action="store_true", help="also sample C frames (py-spy --native)")
    args = parser.parse_args(argv)
    output = args.output or RESULTS / f"profile_{args.scenario}.txt"
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    postgres = Postgres(workdir)
    with ExitStack() as stack:
        stack.callback(postgres.drop_all)
        database = postgres.create("profile")
        free_limit = {"send_free": 10**6, "capacity": 20}.get(args.scenario, 0)
        counts = {"fanout": 200, "capacity": args.users}
        users = seed_users(database, counts.get(args.scenario, 512), daily_free_limit=free_limit)
        server = Server("profile", server_env(database, workdir / "instance"), workdir)
        stack.callback(server.stop)
        server.start()
        loadgen = LoadGen(workdir, "loadgen-profile")
        stack.callback(loadgen.close)
        raw_path = workdir / "pyspy.raw"
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
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
