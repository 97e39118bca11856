"""Run the benchmarks: `python -m bench.run [--quick] [--only NAME ...] [--set KEY=VALUE ...] [--results D]`.

Each benchmark starts its own servers and databases and stops/drops them when done.
Results go to DIR/<name>.json (the figures), DIR/<name>.png and DIR/raw/<name>.json
(every round's samples too; not committed): DIR is bench/results/ for the full run,
bench/results/quick/ for --quick, bench/results/experiments/<settings>/ with --set.
A one-line summary per goal is printed.

`--set KEY=VALUE` (repeatable) gives every server the benchmarks start that setting
(a name config.setting_names() knows, or BENCH_EXPERIMENT, see bench/wsgi_bench.py):
a candidate change is measured with its ceilings in the same run, app/ untouched.
expiry_scale runs in process and takes none.
"""

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import RESULTS, Context, log, rounded
from config import setting_names

BENCHMARKS = (
    "send_throughput",
    "hot_wallet",
    "fanout",
    "expiry_scale",
    "memory",
    "processes",
    "capacity",
    "search",
    "attachments",
    "push",
)


# Read by the benchmarks' WSGI entry (bench/wsgi_bench.py), not by the app.
BENCH_SETTINGS = ("BENCH_EXPERIMENT",)


def parse_settings(parser: argparse.ArgumentParser, given: list[str]) -> dict[str, str]:
    """The `--set KEY=VALUE` options as settings; an unknown name is a usage error."""
    known = {*setting_names(), *BENCH_SETTINGS}
    settings = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or name not in known:
            parser.error(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(known))}")
        settings[name] = value
    return settings


def default_results(quick: bool, settings: dict[str, str]) -> Path:
    """bench/results/ (full), bench/results/quick/, or bench/results/experiments/<settings>/ with --set."""
    if settings:
        return (
            RESULTS
            / "experiments"
            / ",".join(f"{k}={v}" for k, v in sorted(settings.items())).replace("/", "_")
        )
    return RESULTS / "quick" if quick else RESULTS


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks in order; exit 1 if one of them failed to run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes (< 3 minutes in total)")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a server setting")
    parser.add_argument("--results", type=Path, help="where to write (default: see above)")
    args = parser.parse_args(argv)
    settings = parse_settings(parser, args.set)
    results_dir = args.results or default_results(args.quick, settings)
    chosen = args.only or list(BENCHMARKS)
    ctx = Context.open(args.quick, results_dir, settings)
    machine = ctx.machine
    log(f"machine: {json.dumps(machine)}; settings: {json.dumps(settings)}")
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
        ctx.close()
    total = time.monotonic() - started
    index = {
        "mode": "quick" if args.quick else "full",
        "machine": machine,
        "settings": settings,
        "wall_seconds": total,
        "benchmark_seconds": timings,
        "failures": failures,
        "goals": goals,
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    summary_path = results_dir / "summary.json"
    if args.only and summary_path.exists():  # a partial re-run updates the last full index
        previous = json.loads(summary_path.read_text())
        if previous.get("mode") == index["mode"] and previous.get("settings", {}) == settings:
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
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
