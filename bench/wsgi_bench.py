"""The service as gunicorn serves it, plus the ceiling endpoints when BENCH_CEILING=1.

    BENCH_CEILING=1 gunicorn -k eventlet -w 1 bench.wsgi_bench:app

Never used in a deployment: wsgi.py (the production entry point) has no ceiling.

BENCH_EXPERIMENT (comma-separated, bench/experiments.py only) applies a candidate
change to the service *in this process only*, to measure it before anyone edits
app/: the service's code on disk is not touched.

- one_transaction: on PostgreSQL, begin_write() neither commits the read transaction
  nor checks a connection out again (the send runs in one transaction on one
  connection; row locks already serialise writers);
- no_pre_ping: the pool does not ping a connection on every checkout;
- gc_freeze: gc.freeze() after start-up and a larger first GC generation threshold;
- tracemalloc: trace Python allocations (1 frame) for GET /bench/ceiling/tracemalloc/*.
"""

import gc
import os
import tracemalloc

from app import create_app
from bench.ceiling import ENV_FLAG, register_ceiling

EXPERIMENTS = {e.strip() for e in os.environ.get("BENCH_EXPERIMENT", "").split(",") if e.strip()}
KNOWN = {"one_transaction", "no_pre_ping", "gc_freeze", "tracemalloc"}
if EXPERIMENTS - KNOWN:
    raise RuntimeError(f"unknown BENCH_EXPERIMENT {sorted(EXPERIMENTS - KNOWN)}; known: {sorted(KNOWN)}")
if "tracemalloc" in EXPERIMENTS:
    tracemalloc.start(1)

if "no_pre_ping" in EXPERIMENTS:
    import app.database as database_module

    _engine_options = database_module.engine_options

    def _without_pre_ping(*args, **kwargs):
        options = _engine_options(*args, **kwargs)
        options.pop("pool_pre_ping", None)
        return options

    database_module.engine_options = _without_pre_ping

if "one_transaction" in EXPERIMENTS:
    import app.services.messaging as messaging_module
    from app.database import begin_write as _begin_write
    from app.extensions import db

    def _begin_write_in_place() -> None:
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.connection()  # stay in the transaction (and on the connection) we have
            return
        _begin_write()

    messaging_module.begin_write = _begin_write_in_place

app = create_app()
if os.environ.get(ENV_FLAG) == "1":
    register_ceiling(app)

if "gc_freeze" in EXPERIMENTS:
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
