"""What every benchmark shares: the machine, throw-away databases, Redis, gunicorn servers,
the load-generator process, CPU accounting, seeding, statistics and the result files.

Everything runs on loopback, every loop is bounded, and whatever a benchmark starts
(servers, load generators, databases, Redis keys) is stopped or dropped by the
ExitStack of that benchmark, also when it fails.
"""

import contextlib
import datetime as dt
import json
import math
import os
import platform
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from support.databases import POSTGRES_ADMIN_URL as PG_ADMIN_URL
from support.databases import REDIS_HOST, REDIS_PORT, PostgresDatabases
from support.processes import BIN, TOP_LEVEL
from support.servers import Launcher, LiveServer
from support.settings import server_environment
from support.tokens import forge_token

RESULTS = TOP_LEVEL / "bench" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# A send limit no benchmark reaches: the limiter still runs (its cost is part of every
# send) but never refuses. Real deployments keep 120 a minute.
UNREACHED_SEND_LIMIT = "1000000 per minute"
# The service as gunicorn serves it, plus the ceiling endpoints (bench/wsgi_bench.py).
BENCH_APP = "bench.wsgi_bench:app"
# What each round records in full, for the plots: kept in raw/<name>.json, not in <name>.json.
SAMPLE_KEYS = ("latency_sample_ms", "samples_ms")


def log(message: str) -> None:
    """Progress on stderr (stdout stays free for the summary)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    """What the figures came from: cores, CPU model, memory, versions, load, date."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    with contextlib.suppress(Exception):
        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            info["postgresql"] = conn.execute(sa.text("SHOW server_version")).scalar_one()
        engine.dispose()
    with contextlib.suppress(Exception):
        import redis

        info["redis"] = redis.Redis(REDIS_HOST, REDIS_PORT, socket_timeout=3).info("server")["redis_version"]
    return info


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not None."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def rounded(value: Any, digits: int = 3) -> Any:
    """Round floats (recursively in dicts and lists) for small, readable JSON."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def goal(name: str, target: str, value: Any, met: bool | None, **extra: Any) -> dict[str, Any]:
    """One goal of the issue: what it asks, what we measured, whether it is met."""
    return {"name": name, "target": target, "value": value, "met": met, **extra}


# --------------------------------------------------------------------------- processes


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


class CpuMeter:
    """CPU used by groups of processes over a round, in % of one core, and the machine's busy %."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self._start: dict[str, dict[int, float]] = {}
        self._machine = (0.0, 0.0)
        self._t0 = 0.0

    def _sample(self) -> dict[str, dict[int, float]]:
        sample: dict[str, dict[int, float]] = {}
        for name, pids in self.groups.items():
            sample[name] = {}
            with contextlib.suppress(Exception):
                for pid in pids():
                    used = cpu_seconds(pid)
                    if used is not None:
                        sample[name][pid] = used
        return sample

    def start(self) -> None:
        """Begin a round."""
        self._start = self._sample()
        self._machine = machine_busy()
        self._t0 = time.monotonic()

    def stop(self) -> dict[str, float]:
        """CPU % (of one core) of each group since start(), and machine_busy_pct (of all cores)."""
        wall = max(time.monotonic() - self._t0, 1e-6)
        end = self._sample()
        busy, total = machine_busy()
        result = {}
        for name, pids in end.items():
            used = sum(v - self._start.get(name, {}).get(pid, v) for pid, v in pids.items())
            result[name] = round(100 * used / wall, 1)
        result["machine_busy_pct"] = round(
            100 * (busy - self._machine[0]) / max(total - self._machine[1], 1), 1
        )
        return result


def postgres_pids(database_url: str) -> Callable[[], list[int]]:
    """A function listing the PostgreSQL backends serving one database."""
    name = database_url.rsplit("/", 1)[1]
    engine = sa.create_engine(PG_ADMIN_URL, poolclass=sa.pool.NullPool)

    def pids() -> list[int]:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": name})
            return [int(r[0]) for r in rows]

    return pids


def redis_pid() -> int | None:
    """The Redis server's pid (it reports it itself)."""
    with contextlib.suppress(Exception):
        import redis

        return int(redis.Redis(REDIS_HOST, REDIS_PORT, socket_timeout=3).info("server")["process_id"])
    return None


# --------------------------------------------------------------------------- servers


def server_env(database_url: str, instance_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a bench server (support.settings.server_environment): production
    settings, cheap hashing, the rate limiter on but never reached, the ceiling endpoints on."""
    bench_defaults = {
        "RATELIMIT_ENABLED": "true",
        "RATELIMIT_STORAGE_URI": "memory://",
        "SEND_RATE_LIMIT": UNREACHED_SEND_LIMIT,
        "BENCH_CEILING": "1",
    }
    return server_environment(database_url, instance_path, **{**bench_defaults, **settings})


# --------------------------------------------------------------------------- load generator


class LoadGen:
    """The load generator: a separate Python process (bench/loadgen.py) driven by JSON lines."""

    def __init__(self, workdir: Path, label: str = "loadgen") -> None:
        self.log_path = workdir / f"{label}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in close())
        self.process = subprocess.Popen(
            [str(BIN / "python"), "-m", "bench.loadgen"],
            cwd=TOP_LEVEL,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.call("ping", timeout=60)

    @property
    def pid(self) -> int:
        """The load generator's pid."""
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put("")

    def call(self, op: str, timeout: float = 300, **args: Any) -> dict[str, Any]:
        """Run one command in the load generator; its JSON answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"load generator gave no answer to {op} in {timeout}s") from None
        if not line:
            tail = self.log_path.read_text(errors="replace")[-5000:]
            raise RuntimeError(f"load generator exited during {op}:\n{tail}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"load generator failed {op}: {answer['error']}")
        return answer

    def close(self) -> None:
        """Ask it to quit; kill its process group if it does not."""
        with contextlib.suppress(Exception):
            self.call("quit", timeout=30)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self._log.close()


# --------------------------------------------------------------------------- seeding


@dataclass
class User:
    """A seeded user, a token the server accepts, and its conversation with its partner."""

    id: str
    token: str
    conversation_id: str = ""
    partner: int = -1

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}


def access_token(user_id: str, lifetime: int = 6 * 3600) -> str:
    """An access token as flask-jwt-extended issues it, signed with the servers' key."""
    return forge_token(user_id, expires_in=lifetime)


def seed_users(
    database_url: str,
    count: int,
    *,
    balance: int = 10**12,
    daily_free_limit: int = 20,
    points_per_message: int = 10,
    prefix: str = "b",
) -> list[User]:
    """Create `count` users with wallets (and their ledger row) and quota rows, paired into
    conversations (user 2k with 2k+1), straight in SQL; returns them with access tokens.

    Nobody logs in (the password hash is unusable); tokens are signed with the server's key.
    """
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    names = [f"{prefix}{i:06d}_{ids[i][:6]}" for i in range(count)]
    first, second = ids[0::2], ids[1::2]
    conversations = [str(uuid.uuid4()) for _ in range(len(second))]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, username, display_name, password_hash, created_at) "
                "SELECT u, n, n, '!', now() "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:names AS text[])) AS t(u, n)"
            ),
            {"ids": ids, "names": names},
        )
        conn.execute(
            sa.text(
                "INSERT INTO points_wallets (id, user_id, balance, updated_at) "
                "SELECT gen_random_uuid(), u, :balance, now() FROM unnest(CAST(:ids AS uuid[])) AS t(u)"
            ),
            {"ids": ids, "balance": balance},
        )
        conn.execute(
            sa.text(
                "INSERT INTO points_transactions (id, user_id, amount, reason, balance_after, created_at) "
                "SELECT gen_random_uuid(), u, :balance, 'grant', :balance, now() "
                "FROM unnest(CAST(:ids AS uuid[])) AS t(u)"
            ),
            {"ids": ids, "balance": balance},
        )
        conn.execute(
            sa.text(
                "INSERT INTO message_quotas (id, user_id, messages_sent_today, quota_date, "
                "daily_free_limit, points_per_message) "
                "SELECT gen_random_uuid(), u, 0, (now() AT TIME ZONE 'UTC')::date, :free, :price "
                "FROM unnest(CAST(:ids AS uuid[])) AS t(u)"
            ),
            {"ids": ids, "free": daily_free_limit, "price": points_per_message},
        )
        conn.execute(
            sa.text(
                "INSERT INTO conversations (id, pair_key, created_at, updated_at) "
                "SELECT c, least(a::text, b::text) || ':' || greatest(a::text, b::text), now(), now() "
                "FROM unnest(CAST(:c AS uuid[]), CAST(:a AS uuid[]), CAST(:b AS uuid[])) AS t(c, a, b)"
            ),
            {"c": conversations, "a": first, "b": second},
        )
        conn.execute(
            sa.text(
                "INSERT INTO conversation_participants (conversation_id, user_id, joined_at) "
                "SELECT c, u, now() FROM unnest(CAST(:c AS uuid[]), CAST(:u AS uuid[])) AS t(c, u)"
            ),
            {"c": conversations + conversations, "u": first + second},
        )
    engine.dispose()
    users = [User(uid, access_token(uid)) for uid in ids]
    for k, conversation in enumerate(conversations):
        a, b = 2 * k, 2 * k + 1
        users[a].conversation_id = users[b].conversation_id = conversation
        users[a].partner, users[b].partner = b, a
    return users


def deadlocks(database_url: str) -> int:
    """Deadlocks PostgreSQL detected in this database so far."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()
    engine.dispose()
    return int(found)


def ledger_mismatches(database_url: str) -> int:
    """Wallets whose balance differs from the sum of their ledger rows (must be 0)."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        found = conn.execute(
            sa.text(
                "SELECT count(*) FROM points_wallets w WHERE w.balance <> "
                "(SELECT coalesce(sum(amount), 0) FROM points_transactions t WHERE t.user_id = w.user_id)"
            )
        ).scalar_one()
    engine.dispose()
    return int(found)


# --------------------------------------------------------------------------- request templates


def send_request(user: User, content: str = "bench message __TAG__", **extra: Any) -> dict[str, Any]:
    """A POST /api/messages/send of `user` to its conversation (the load generator fills __TAG__)."""
    body = {"conversationId": user.conversation_id, "content": content, **extra}
    return {"method": "POST", "path": "/api/messages/send", "headers": user.headers, "json": body}


def ceiling_insert_request(user: User, content: str = "bench message __TAG__") -> dict[str, Any]:
    """A POST /bench/ceiling/insert: the same row the send would store, without the service."""
    body = {"conversationId": user.conversation_id, "senderId": user.id, "content": content}
    return {"method": "POST", "path": "/bench/ceiling/insert", "headers": {}, "json": body}


def ceiling_emit_request(sender: User, receiver: User) -> dict[str, Any]:
    """A POST /bench/ceiling/emit: message:new to the receiver's room, without the service."""
    payload = {"conversationId": sender.conversation_id, "senderId": sender.id, "content": "bench __TAG__"}
    body = {"userId": receiver.id, "payload": payload}
    return {"method": "POST", "path": "/bench/ceiling/emit", "headers": {}, "json": body}


# --------------------------------------------------------------------------- context and results


@dataclass
class Context:
    """What a benchmark gets: the mode, where to write, the machine, a workdir, databases,
    the server settings given with `--set`, and the launcher of its servers."""

    quick: bool
    results_dir: Path
    workdir: Path
    machine: dict[str, Any]
    postgres: PostgresDatabases
    settings: dict[str, str] = field(default_factory=dict)
    launcher: Launcher = field(init=False)

    def __post_init__(self) -> None:
        self.launcher = Launcher(self.workdir)

    @classmethod
    def open(cls, quick: bool, results_dir: Path, settings: dict[str, str] | None = None) -> "Context":
        """A context in a new temporary workdir (close() drops its databases and removes it)."""
        import tempfile

        workdir = Path(tempfile.mkdtemp(prefix="bench-"))
        postgres = PostgresDatabases(workdir, prefix="bench")
        return cls(quick, results_dir, workdir, machine_info(), postgres, dict(settings or {}))

    def close(self) -> None:
        """Drop every database of this context and remove its workdir."""
        import shutil

        self.postgres.drop_all()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def pick(self, quick: Any, full: Any) -> Any:
        """The quick-mode value or the full one."""
        return quick if self.quick else full

    def database(self, stack: contextlib.ExitStack, label: str) -> str:
        """A fresh migrated database, dropped when `stack` closes; its URL."""
        database = self.postgres.migrated(label)
        stack.callback(self.postgres.drop, database)
        return database

    def server_env(self, database_url: str, **extra: str) -> dict[str, str]:
        """A bench server's environment, with the `--set` settings last. Quick mode (which runs
        inside the test suite, next to other tests sharing PostgreSQL's 100 connections) caps
        each pool at 10 + 10."""
        if self.quick:
            extra = {"DB_POOL_SIZE": "10", "DB_MAX_OVERFLOW": "10", **extra}
        return server_env(database_url, self.workdir / "instance", **{**extra, **self.settings})

    def server(
        self, stack: contextlib.ExitStack, label: str, env: dict[str, str], app_module: str = BENCH_APP
    ) -> LiveServer:
        """A single-worker gunicorn (not started yet; no access log) that `stack` stops."""
        options = {"app_module": app_module, "access_log": False, "log_level": "warning"}
        server = self.launcher.server(env, label, **options)
        stack.callback(server.stop)
        return server


def without_samples(document: Any) -> Any:
    """The document without the per-request samples of its rounds (SAMPLE_KEYS), for committing."""
    if isinstance(document, dict):
        return {k: without_samples(v) for k, v in document.items() if k not in SAMPLE_KEYS}
    if isinstance(document, list):
        return [without_samples(v) for v in document]
    return document


def write_result(ctx: Context, name: str, result: dict[str, Any], plot: Callable[[Any], None]) -> Path:
    """<results>/<name>.json (the figures, rounds without their samples), <name>.png and
    <results>/raw/<name>.json (everything, samples too; not committed); returns the first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (ctx.results_dir / "raw").mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "mode": "quick" if ctx.quick else "full",
        "machine": ctx.machine,
        "settings": ctx.settings,
        **result,
    }
    json_path = ctx.results_dir / f"{name}.json"
    json_path.write_text(json.dumps(rounded(without_samples(document)), indent=1) + "\n")
    (ctx.results_dir / "raw" / f"{name}.json").write_text(json.dumps(rounded(document), indent=1) + "\n")
    figure = plt.figure(figsize=(11, 4.2), dpi=90)
    try:
        plot(figure)
        shown = "".join(f", {k}={v}" for k, v in ctx.settings.items())
        figure.suptitle(
            f"{name} ({document['mode']}{shown}; {ctx.machine['nproc']} cores, {ctx.machine['date'][:10]})",
            fontsize=10,
        )
        figure.tight_layout()
        figure.savefig(ctx.results_dir / f"{name}.png")
    finally:
        plt.close(figure)
    return json_path


def cdf(axis: Any, values_ms: Sequence[float], label: str, **style: Any) -> None:
    """Plot the latency distribution of a round as a CDF (log x)."""
    if not values_ms:
        return
    ordered = sorted(max(v, 0.01) for v in values_ms)
    n = len(ordered)
    axis.plot(ordered, [(i + 1) / n for i in range(n)], label=label, **style)
    axis.set_xscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    axis.xaxis.set_major_formatter(ScalarFormatter())
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.set_xlabel("latency (ms, log)")
    axis.set_ylabel("fraction")
    axis.grid(True, which="both", alpha=0.3)


def start_one_server(
    ctx: Context, stack: contextlib.ExitStack, database: str, label: str
) -> tuple[LiveServer, "LoadGen", CpuMeter]:
    """One single-worker server on `database`, its load generator, and a CPU meter over
    the worker, the database's PostgreSQL backends and the load generator; `stack`
    stops them."""
    server = ctx.server(stack, label, ctx.server_env(database)).start()
    loadgen = LoadGen(ctx.workdir, f"loadgen-{label}")
    stack.callback(loadgen.close)
    meter = CpuMeter(
        {
            "server": server.worker_pids,
            "postgres": postgres_pids(database),
            "loadgen": lambda: [loadgen.pid],
        }
    )
    return server, loadgen, meter
