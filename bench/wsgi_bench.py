"""The service as gunicorn serves it, plus the ceiling endpoints when BENCH_CEILING=1.

    BENCH_CEILING=1 gunicorn -k eventlet -w 1 bench.wsgi_bench:app

Never used in a deployment: wsgi.py (the production entry point) has no ceiling.

BENCH_EXPERIMENT (comma-separated) turns on instruments *in this process only*; the
service's code on disk is not touched:

- gc_log: print every garbage collection that took 5 ms or more (generation, ms, objects):
  `python -m bench.run --set BENCH_EXPERIMENT=gc_log`;
- tracemalloc: trace Python allocations (1 frame) for GET /bench/ceiling/tracemalloc/*
  (what `python -m bench.profile memory` reads).
"""

import gc
import os
import tracemalloc

from app import create_app
from bench.ceiling import ENV_FLAG, register_ceiling

EXPERIMENTS = {e.strip() for e in os.environ.get("BENCH_EXPERIMENT", "").split(",") if e.strip()}
KNOWN = {"gc_log", "tracemalloc"}
if EXPERIMENTS - KNOWN:
    raise RuntimeError(f"unknown BENCH_EXPERIMENT {sorted(EXPERIMENTS - KNOWN)}; known: {sorted(KNOWN)}")
if "tracemalloc" in EXPERIMENTS:
    tracemalloc.start(1)

app = create_app()
if os.environ.get(ENV_FLAG) == "1":
    register_ceiling(app)

if "gc_log" in EXPERIMENTS:
    import sys
    import time

    _gc_started: list[float] = [0.0]

    def _log_slow_collections(phase: str, info: dict) -> None:
        if phase == "start":
            _gc_started[0] = time.perf_counter()
            return
        elapsed_ms = (time.perf_counter() - _gc_started[0]) * 1000
        if elapsed_ms >= 5:
            objects = sum(gc.get_count()) + len(gc.get_objects(2))
            print(
                f"gc_log generation={info['generation']} ms={elapsed_ms:.1f} objects~{objects}",
                file=sys.stderr,
            )

    gc.callbacks.append(_log_slow_collections)
