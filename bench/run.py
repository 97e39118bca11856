"""Run the benchmarks: `python -m bench.run [--quick] [--only NAME ...] [--results DIR]`.

Each benchmark starts its own servers and databases and stops/drops them when done.
Results go to DIR/<name>.json and DIR/<name>.png (bench/results/ for the full run,
bench/results/quick/ for --quick) and a one-line summary per goal is printed.
"""

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import RESULTS, Context, Postgres, log, machine_info, rounded

BENCHMARKS = (
    "send_throughput",
    "hot_wallet",
    "fanout",
    "expiry_scale",
    "memory",
    "processes",
    "capacity",
)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks in order; exit 1 if one of them failed to run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes (< 3 minutes in total)")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--results", type=Path, help="where to write (default bench/results[/quick])")
    args = parser.parse_args(argv)
    results_dir = args.results or (RESULTS / "quick" if args.quick else RESULTS)
    chosen = args.only or list(BENCHMARKS)
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    machine = machine_info()
    log(f"machine: {json.dumps(machine)}")
    postgres = Postgres(workdir)
    ctx = Context(args.quick, results_dir, workdir, machine, postgres)
    started = time.monotonic()
    failures: list[str] = []
    timings: dict[str, float] = {}
    goals: dict[str, Any] = {}
    try:
        for name in chosen:
            module = importlib.import_module(f"bench.{name}")
            log(f"=== {name} ({'quick' if args.quick else 'full'})")
            began = time.monotonic()
            try:
                result = module.run(ctx)
                goals[name] = result.get("goals", [])
            except Exception as error:
                import traceback

                traceback.print_exc()
                failures.append(f"{name}: {type(error).__name__}: {error}")
            timings[name] = time.monotonic() - began
            log(f"=== {name} took {timings[name]:.0f} s")
    finally:
        postgres.drop_all()
    total = time.monotonic() - started
    index = {
        "mode": "quick" if args.quick else "full",
        "machine": machine,
        "wall_seconds": total,
        "benchmark_seconds": timings,
        "failures": failures,
        "goals": goals,
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    summary_path = results_dir / "summary.json"
    if args.only and summary_path.exists():  # a partial re-run updates the last full index
        previous = json.loads(summary_path.read_text())
        if previous.get("mode") == index["mode"]:
            previous["goals"].update(goals)
            previous["benchmark_seconds"].update(timings)
            previous.setdefault("reruns", []).append({"benchmarks": chosen, "machine": machine})
            previous["failures"] = [f for f in previous.get("failures", []) if f.split(":")[0] not in chosen]
            previous["failures"] += failures
            index = previous
    summary_path.write_text(json.dumps(rounded(index), indent=1) + "\n")
    for name, items in goals.items():
        for item in items:
            mark = {True: "met", False: "MISSED", None: "n/a"}[item["met"]]
            value = item["value"]
            shown = f"{value:.3g}" if isinstance(value, float) else value
            print(f"{name:>16}  {item['name']:<48} {shown!s:>10}  goal {item['target']:<10} {mark}")
    print(f"total wall time {total:.0f} s; results in {results_dir}")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
