"""9. Attachments: upload throughput, worker memory during an upload, /healthz while big
uploads stream, and the after_login hook deleting 10,000 expired attachments.

Against a real single-worker gunicorn (`-k eventlet`) on PostgreSQL, from threads of this
process (http.client, one connection each), with a plain-text file of 25 MiB (5 MiB in
quick mode) in a multipart body, the kind of file whose every byte the app checks
(UTF-8, no NUL) as it streams:

- throughput: uploads one after another through POST /api/attachments (auth, rate
  limit, multipart parsing, type sniffing, the text check, storage, the row) against
  POST /bench/ceiling/upload (bench/ceiling.py: the same bytes through Flask into the
  same directory with the same durable write, nothing else), rounds interleaved A B,
  B A, A B; the ratio of the median MB/s;
- memory: the worker's RSS sampled every 5 ms while one upload is sent at a steady
  pace over 2 s (so the server streams it), after a warm-up upload; the growth over
  the RSS before it, for both endpoints;
- responsiveness: /healthz every 20 ms on its own connection while 10 threads upload
  one file after another (idle /healthz first, as the reference); p50 and p99;
- the after_login hook, in process on PostgreSQL: a user whose conversation has 10,000
  expired messages (not yet marked) with one attachment each (a quarter of them images
  with a thumbnail), their files on disk; time of the whole hook, of its database
  transaction and of the file deletion, against the same hook with 10,000 expired
  messages and no attachments; and, while the files are deleted, how many pooled
  connections the app holds (0: no transaction, so no lock, is open meanwhile).
"""

import http.client
import os
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from support.processes import rss_kib
from support.servers import LiveServer
from support.settings import TEST_JWT_SECRET as JWT_SECRET

from bench.harness import Context, CpuMeter, goal, log, median, percentile, ratio, seed_users, write_result

NAME = "attachments"
MIB = 1024 * 1024
BOUNDARY = "benchboundary7c1e5a9d2f40"
HOOK_GOAL_NOTE = "report (and no DB lock while deleting files)"


def text_file(size: int) -> bytes:
    """`size` bytes of plain UTF-8 text (what the app accepts as text/plain)."""
    line = "Attachment benchmark: plain text, déjà vu, 日本語, checked byte by byte.\n".encode()
    return (line * (size // len(line) + 1))[:size]


def multipart(data: bytes, filename: str = "notes.txt") -> bytes:
    """A multipart/form-data body with one `file` part."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


class Uploader:
    """One keep-alive connection that posts bodies (whole, or at a steady pace)."""

    def __init__(self, server: LiveServer, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        }

    def post(self, path: str, body: bytes, seconds: float = 0.0) -> tuple[int, float]:
        """POST the body (spread over `seconds` when given); (status, elapsed seconds)."""
        began = time.perf_counter()
        self.connection.putrequest("POST", path)
        for name, value in {**self.headers, "Content-Length": str(len(body))}.items():
            self.connection.putheader(name, value)
        self.connection.endheaders()
        if seconds:
            pieces = 50
            step = len(body) // pieces + 1
            for start in range(0, len(body), step):
                self.connection.send(body[start : start + step])
                time.sleep(seconds / pieces)
        else:
            self.connection.send(body)
        response = self.connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - began

    def close(self) -> None:
        self.connection.close()


def clear_uploads(server: LiveServer) -> None:
    """Remove what the rounds stored (the disk is shared with the other benchmarks)."""
    root = Path(server.env["INSTANCE_PATH"]) / "uploads"
    if root.exists():
        for name in os.listdir(root):
            (root / name).unlink(missing_ok=True)


# --------------------------------------------------------------------------- throughput


def throughput(
    server: LiveServer, token: str, body: bytes, count: int, order: list[str]
) -> dict[str, dict[str, Any]]:
    """MiB/s of `count` uploads one after another, for each arm in `order`."""
    paths = {"app": "/api/attachments", "bare": "/bench/ceiling/upload"}
    meter = CpuMeter({"server": server.worker_pids})
    results = {}
    for arm in order:
        path = paths[arm]
        uploader = Uploader(server, token)
        meter.start()
        began = time.perf_counter()
        for _ in range(count):
            status, _ = uploader.post(path, body)
            if status != 201:
                raise RuntimeError(f"{arm} upload answered {status}")
        elapsed = time.perf_counter() - began
        cpu = meter.stop()
        uploader.close()
        clear_uploads(server)
        results[arm] = {"mb_per_s": count * len(body) / MIB / elapsed, "seconds": elapsed, "cpu": cpu}
    return results


# --------------------------------------------------------------------------- memory


def rss_growth(server: LiveServer, token: str, body: bytes, path: str) -> dict[str, Any]:
    """Worker RSS before, and its peak while one upload is sent over 2 s (after a warm-up)."""
    pid = server.worker_pid()
    uploader = Uploader(server, token)
    uploader.post(path, body)  # warm-up: code paths, buffers, the pool
    time.sleep(0.3)
    before = rss_kib(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    status, elapsed = uploader.post(path, body, seconds=2.0)
    done.set()
    sampler.join()
    uploader.close()
    clear_uploads(server)
    if status != 201:
        raise RuntimeError(f"upload to {path} answered {status}")
    return {
        "rss_before_kib": before,
        "rss_peak_kib": peak[0],
        "growth_mib": (peak[0] - before) / 1024,
        "seconds": elapsed,
    }


# --------------------------------------------------------------------------- responsiveness


def healthz_latencies(server: LiveServer, seconds: float) -> list[float]:
    """/healthz every 20 ms for `seconds` on one keep-alive connection; ms each."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.perf_counter()
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        samples.append((time.perf_counter() - began) * 1000)
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")
        time.sleep(0.02)
    connection.close()
    return samples


def under_uploads(server: LiveServer, tokens: list[str], body: bytes, seconds: float) -> dict[str, Any]:
    """/healthz latencies while len(tokens) threads upload one file after another."""
    stop = threading.Event()
    counts = [0] * len(tokens)
    failures: list[str] = []

    def upload_loop(index: int) -> None:
        uploader = Uploader(server, tokens[index])
        try:
            while not stop.is_set():
                status, _ = uploader.post("/api/attachments", body)
                if status != 201:
                    failures.append(str(status))
                counts[index] += 1
        except Exception as error:  # reported, not raised from a thread
            failures.append(f"{type(error).__name__}: {error}")
        finally:
            uploader.close()

    threads = [threading.Thread(target=upload_loop, args=(i,), daemon=True) for i in range(len(tokens))]
    meter = CpuMeter({"server": server.worker_pids})
    meter.start()
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # every upload under way
    samples = healthz_latencies(server, seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    cpu = meter.stop()
    clear_uploads(server)
    return {
        "uploads": sum(counts),
        "failures": failures[:5],
        "healthz_p50_ms": percentile(samples, 0.5),
        "healthz_p99_ms": percentile(samples, 0.99),
        "healthz_max_ms": max(samples),
        "probes": len(samples),
        "cpu": cpu,
        "samples_ms": samples,
    }


# --------------------------------------------------------------------------- the login hook

_HOOK_DATA = """
WITH people AS (
    INSERT INTO users (id, username, display_name, password_hash, created_at)
    VALUES (:owner, :owner_name, 'owner', '!', now()), (:partner, :partner_name, 'partner', '!', now())
), chat AS (
    INSERT INTO conversations (id, pair_key, created_at, updated_at, last_seq)
    VALUES (:chat, :pair, now(), now(), :count)
), members AS (
    INSERT INTO conversation_participants (conversation_id, user_id, joined_at)
    VALUES (:chat, :owner, now()), (:chat, :partner, now())
), sent AS (
    INSERT INTO messages (id, conversation_id, seq, sender_id, content, expires_at, is_expired,
                          delivered_at, is_read, read_at, client_message_id, points_charged,
                          created_at, updated_at)
    SELECT md5(:chat || g)::uuid, :chat, g, CASE WHEN g % 2 = 0 THEN :owner ELSE :partner END,
           'a file', now() - interval '1 hour', false, now(), true, now(), NULL, 0,
           now() - interval '2 hours', now() - interval '2 hours'
    FROM generate_series(1, :count) AS g
    RETURNING id, seq, sender_id
)
INSERT INTO attachments (id, uploader_id, message_id, filename, content_type, size, width, height,
                         storage_key, thumbnail_key, created_at, deleted_at)
SELECT a.id, sent.sender_id, sent.id, 'file.txt', 'text/plain; charset=utf-8', 1024, NULL, NULL,
       a.id::text, CASE WHEN sent.seq % 4 = 0 THEN a.id::text || '.thumb' END,
       now() - interval '2 hours', NULL
FROM sent, LATERAL (SELECT md5('a' || sent.id::text)::uuid AS id) AS a
RETURNING storage_key, thumbnail_key
"""


def add_hook_data(engine: sa.Engine, count: int, with_attachments: bool) -> tuple[uuid.UUID, list[str]]:
    """A user with `count` expired, unmarked messages (each with one attachment when asked);
    the user id and the storage keys."""
    owner, partner, chat = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    params = {
        "owner": owner,
        "partner": partner,
        "chat": str(chat),
        "owner_name": f"h{owner.hex[:20]}",
        "partner_name": f"h{partner.hex[:20]}",
        "pair": f"{min(str(owner), str(partner))}:{max(str(owner), str(partner))}",
        "count": count,
    }
    statement = _HOOK_DATA
    if not with_attachments:
        statement = statement.split("INSERT INTO attachments")[0].replace("), sent AS", "), sent0 AS")
        statement += "SELECT id::text, NULL FROM sent0"
    with engine.begin() as conn:
        rows = conn.execute(sa.text(statement), params).all()
    if not with_attachments:
        return owner, []
    return owner, [key for row in rows for key in row if key]


class WatchedStorage:
    """The app's storage, noting how many pooled connections were checked out at each delete."""

    def __init__(self, inner: Any, engine: sa.Engine) -> None:
        self.inner = inner
        self.engine = engine
        self.held: list[int] = []

    def put(self, key: str, source: Any) -> int:
        return self.inner.put(key, source)

    def open(self, key: str) -> Any:
        return self.inner.open(key)

    def delete(self, key: str) -> None:
        self.held.append(self.engine.pool.checkedout())
        self.inner.delete(key)


def measure_hook(app: Any, engine: sa.Engine, count: int, with_attachments: bool) -> dict[str, Any]:
    """One after_login hook over `count` expired messages; its times and what it found."""
    from app.auth.hooks import run_after_login
    from app.extensions import db
    from app.services import expiry

    owner, keys = add_hook_data(engine, count, with_attachments)
    root = Path(app.config["UPLOAD_DIR"])
    root.mkdir(parents=True, exist_ok=True)
    for key in keys:
        (root / key).write_bytes(b"x" * 1024)
    phases: dict[str, float] = {}
    original_expire = expiry.expire_for_user

    def timed_expire(user_id: uuid.UUID) -> Any:  # the database part of the hook
        began = time.perf_counter()
        result = original_expire(user_id)
        phases["database_ms"] = (time.perf_counter() - began) * 1000
        return result

    with app.app_context():
        watched = WatchedStorage(app.extensions["attachment_storage"], db.engine)
        app.extensions["attachment_storage"] = watched
        expiry.expire_for_user = timed_expire
        try:
            began = time.perf_counter()
            report = run_after_login(owner)
            total_ms = (time.perf_counter() - began) * 1000
        finally:
            expiry.expire_for_user = original_expire
            app.extensions["attachment_storage"] = watched.inner
            db.session.remove()
    left = [key for key in keys if (root / key).exists()]
    return {
        "with_attachments": with_attachments,
        "messages": count,
        "files": len(keys),
        "marked": report.get("expired_messages"),
        "hook_ms": total_ms,
        "database_ms": phases.get("database_ms"),
        "files_and_rest_ms": total_ms - phases.get("database_ms", 0.0),
        "files_left": len(left),
        "connections_held_while_deleting": max(watched.held, default=0),
    }


def hook_rounds(ctx: Context, stack: ExitStack, count: int, repetitions: int) -> list[dict[str, Any]]:
    """Interleaved hook runs with and without attachments, each on fresh data."""
    from app import create_app
    from config import Config

    database = ctx.database(stack, "attachments-hook")
    engine = sa.create_engine(database, pool_size=2)
    stack.callback(engine.dispose)
    upload_dir = tempfile.mkdtemp(prefix="uploads-", dir=ctx.workdir)
    app = create_app(
        Config, SQLALCHEMY_DATABASE_URI=database, JWT_SECRET=JWT_SECRET, DB_POOL_SIZE=2, UPLOAD_DIR=upload_dir
    )

    def dispose() -> None:
        from app.extensions import db

        with app.app_context():
            db.engine.dispose()

    stack.callback(dispose)
    rounds = []
    for repetition in range(repetitions):
        order = [True, False] if repetition % 2 == 0 else [False, True]
        for with_attachments in order:
            measured = measure_hook(app, engine, count, with_attachments)
            measured["repetition"] = repetition
            log(
                f"  hook ({'with' if with_attachments else 'without'} attachments): "
                f"{measured['hook_ms']:.0f} ms (database {measured['database_ms']:.0f} ms), "
                f"{measured['files']} files, {measured['files_left']} left, "
                f"{measured['connections_held_while_deleting']} connections held while deleting"
            )
            rounds.append(measured)
    return rounds


# --------------------------------------------------------------------------- run


def plot(figure: Any, summary: dict[str, Any], rounds: dict[str, Any]) -> None:
    """Throughput per arm; /healthz latencies idle and under uploads."""
    left, middle, right = figure.subplots(1, 3)
    arms = ["bare", "app"]
    left.bar(arms, [summary["throughput"][a]["mb_per_s"] or 0 for a in arms], color=["tab:gray", "tab:blue"])
    left.set_ylabel("MiB/s, uploads one after another (median)")
    left.set_title(f"ratio {summary['throughput']['ratio'] or 0:.2f} (goal >= 0.5)", fontsize=9)
    for name, colour in (("idle", "tab:gray"), ("under_uploads", "tab:red")):
        samples = sorted(rounds[name]["samples_ms"])
        if samples:
            middle.plot(samples, [i / len(samples) for i in range(len(samples))], color=colour, label=name)
    middle.axvline(100, color="red", linestyle=":", label="goal: p99 < 100 ms")
    middle.set_xscale("log")
    middle.set_xlabel("/healthz ms")
    middle.set_ylabel("fraction of probes")
    middle.legend(fontsize=7)
    hooks = summary["hook"]
    names = ["database", "files and rest", "no attachments"]
    values = [
        hooks["with"]["database_ms"] or 0,
        hooks["with"]["files_and_rest_ms"] or 0,
        hooks["without"]["hook_ms"] or 0,
    ]
    right.bar(names, values, color=["tab:blue", "tab:orange", "tab:gray"])
    right.set_ylabel(f"ms, after_login with {hooks['with']['messages']:,} expired")
    right.tick_params(axis="x", labelsize=7)


def run(ctx: Context) -> dict[str, Any]:
    """Run the benchmark; write bench/results/attachments.{json,png}."""
    size = ctx.pick(5 * MIB, 25 * MIB)
    per_round = ctx.pick(2, 6)
    repetitions = ctx.pick(2, 3)
    concurrent = 10
    probe_seconds = ctx.pick(3.0, 15.0)
    hook_count = ctx.pick(2_000, 10_000)
    body = multipart(text_file(size))
    with ExitStack() as stack:
        database = ctx.database(stack, "attachments")
        users = seed_users(database, concurrent)
        tokens = [user.token for user in users]
        env = ctx.server_env(
            database,
            UPLOAD_RATE_LIMIT="1000000 per minute",
            UPLOAD_DAILY_BYTES=str(10**13),
        )
        server = ctx.server(stack, "attachments", env)
        ctx.launcher.start_many([server])

        throughput_rounds = []
        for repetition in range(repetitions):
            order = ["app", "bare"] if repetition % 2 == 0 else ["bare", "app"]
            measured = throughput(server, tokens[0], body, per_round, order)
            throughput_rounds.append({"repetition": repetition, **measured})
            log(
                f"  throughput rep {repetition}: app {measured['app']['mb_per_s']:.0f} MiB/s, "
                f"bare {measured['bare']['mb_per_s']:.0f} MiB/s"
            )
        memory_rounds = []
        for path in ("/api/attachments", "/bench/ceiling/upload"):
            measured = rss_growth(server, tokens[1], body, path)
            measured["path"] = path
            memory_rounds.append(measured)
            log(f"  RSS during one upload to {path}: +{measured['growth_mib']:.2f} MiB")
        idle = {"samples_ms": healthz_latencies(server, min(probe_seconds, 5.0))}
        idle["healthz_p99_ms"] = percentile(idle["samples_ms"], 0.99)
        loaded = under_uploads(server, tokens, body, probe_seconds)
        log(
            f"  /healthz p99 idle {idle['healthz_p99_ms']:.1f} ms; under {concurrent} uploads "
            f"{loaded['healthz_p99_ms']:.1f} ms ({loaded['uploads']} uploads, failures {loaded['failures']})"
        )
        alarms = server.alarms()
        hook = hook_rounds(ctx, stack, hook_count, ctx.pick(1, 3))

    def arm(name: str) -> dict[str, Any]:
        return {
            "mb_per_s": median(r[name]["mb_per_s"] for r in throughput_rounds),
            "server_cpu_pct": median(r[name]["cpu"]["server"] for r in throughput_rounds),
        }

    app_memory = next(r for r in memory_rounds if r["path"] == "/api/attachments")
    bare_memory = next(r for r in memory_rounds if r["path"] != "/api/attachments")
    with_files = [r for r in hook if r["with_attachments"]]
    without_files = [r for r in hook if not r["with_attachments"]]

    def hook_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "messages": hook_count,
            "files": rows[0]["files"],
            "hook_ms": median(r["hook_ms"] for r in rows),
            "database_ms": median(r["database_ms"] for r in rows),
            "files_and_rest_ms": median(r["files_and_rest_ms"] for r in rows),
            "files_left": max(r["files_left"] for r in rows),
            "connections_held_while_deleting": max(r["connections_held_while_deleting"] for r in rows),
        }

    summary: dict[str, Any] = {
        "throughput": {"app": arm("app"), "bare": arm("bare")},
        "rss_growth_mib": app_memory["growth_mib"],
        "rss_growth_bare_mib": bare_memory["growth_mib"],
        "healthz_idle_p99_ms": idle["healthz_p99_ms"],
        "healthz_under_uploads": {k: v for k, v in loaded.items() if k != "samples_ms"},
        "hook": {"with": hook_summary(with_files), "without": hook_summary(without_files)},
        "server_log_alarms": alarms[:10],
    }
    summary["throughput"]["ratio"] = ratio(
        summary["throughput"]["app"]["mb_per_s"], summary["throughput"]["bare"]["mb_per_s"]
    )
    throughput_ratio = summary["throughput"]["ratio"]
    p99 = loaded["healthz_p99_ms"]
    growth = summary["rss_growth_mib"]
    hook_with = summary["hook"]["with"]
    mib = size // MIB
    result = {
        "config": {
            "file_mib": mib,
            "uploads_per_round": per_round,
            "repetitions": repetitions,
            "concurrent_uploads": concurrent,
            "probe_seconds": probe_seconds,
            "hook_expired_attachments": hook_count,
            "file": "plain UTF-8 text in a multipart body",
        },
        "summary": summary,
        "goals": [
            goal(
                "upload MiB/s, app / bare endpoint",
                ">= 0.5",
                throughput_ratio,
                throughput_ratio is not None and throughput_ratio >= 0.5,
            ),
            goal(f"worker RSS growth during a {mib} MiB upload (MiB)", "< 5", growth, growth < 5),
            goal(
                f"/healthz p99 during {concurrent} concurrent {mib} MiB uploads (ms)",
                "< 100",
                p99,
                p99 is not None and p99 < 100 and not loaded["failures"],
            ),
            goal(
                f"after_login with {hook_count:,} expired attachments (ms)",
                HOOK_GOAL_NOTE,
                hook_with["hook_ms"],
                hook_with["connections_held_while_deleting"] == 0 and hook_with["files_left"] == 0,
            ),
        ],
        "rounds": {
            "throughput": throughput_rounds,
            "memory": memory_rounds,
            "idle": idle,
            "under_uploads": loaded,
            "hook": hook,
        },
    }
    write_result(ctx, NAME, result, lambda fig: plot(fig, summary, result["rounds"]))
    return result
