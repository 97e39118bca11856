"""Helpers of the attack, fuzz and fault tests: private dependencies, the books, the servers that carry them.

Every server here is what operators run (support.servers): ``gunicorn -k eventlet -w N
wsgi:app`` with APP_ENV=production, on a fresh database migrated with ``flask --app
wsgi db upgrade``. A test that restarts or kills a dependency gets a PRIVATE one,
started here on a port of its own (``initdb`` + ``pg_ctl`` for PostgreSQL,
``redis-server`` for Redis); the shared PostgreSQL on 5432 and Redis on 6379 are never
stopped, other test sessions use them.

Every test is bounded in time (``budget`` marker, SIGALRM) and ends with the books
checked in the database itself (``Books.check``): each wallet's balance equals the
sum of its ledger, nothing is negative, each paid message has exactly one ledger row,
no clientMessageId was charged twice, and each quota count equals the messages sent
that quota day.
"""

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.bursts import Outcome
from support.processes import free_port
from support.pytest_live import fail_or_skip
from support.servers import Launcher, LiveServer

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DEFAULT_BUDGET = 90.0  # seconds per test unless @pytest.mark.budget(n) says otherwise
# The attack servers' pools: 8 per worker, 4 more under a burst (several servers share PostgreSQL).
POOL_SETTINGS = {"DB_POOL_SIZE": "8", "DB_MAX_OVERFLOW": "4"}

# --------------------------------------------------------------------------- private dependencies


class PrivateRedis:
    """A redis-server of this test only, on a port of its own, that a test may kill and restart."""

    def __init__(self, workdir: Path, label: str = "redis") -> None:
        if shutil.which("redis-server") is None:
            fail_or_skip("redis-server is not installed")
        self.workdir = workdir
        self.label = label
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or start again, on the same port) and wait until it answers PING."""
        log = open(self.workdir / f"{self.label}.log", "ab")  # noqa: SIM115 (kept by the child)
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.05)
        pytest.fail(f"private redis-server on {self.port} did not start")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL it (the way a crashed Redis disappears)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self.kill()


class PrivatePostgres:
    """A PostgreSQL 15 cluster of this test only (initdb in a temporary directory, its own port).

    The cluster lives in a directory of its own under the system temp dir, not under pytest's:
    pytest makes /tmp/pytest-of-<user> private (0700) whenever a session starts, which would lock
    the `postgres` user out of a cluster there while other test sessions run.
    """

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            fail_or_skip(f"PostgreSQL server binaries are not installed in {PG_BIN}")
        self.root = Path(tempfile.mkdtemp(prefix="attack-pg-"))
        self.dir = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        for path in (self.dir, self.socket_dir):
            path.mkdir()
        if self.as_postgres:
            for path in (self.root, self.dir, self.socket_dir):
                shutil.chown(path, "postgres", "postgres")

    def _run(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        full = [*(["runuser", "-u", "postgres", "--"] if self.as_postgres else []), *command]
        result = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(full)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def init(self) -> None:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with open(self.dir / "postgresql.conf", "a") as conf:
            conf.write(
                "\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n"
            )

    def _ctl(self, action: str, *extra: str) -> None:
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.dir),
            "-o",
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1",
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "-t",
            "30",
            *extra,
            action,
        )

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session is terminated, open transactions roll back."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        """Stop the cluster and delete its directory."""
        with contextlib.suppress(BaseException):
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)


# --------------------------------------------------------------------------- the books


@dataclass
class Books:
    """Reads the money and the messages straight from a server's database."""

    engine: sa.Engine

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))

    def balance(self, user_id: str) -> int:
        return int(self.scalar("SELECT balance FROM points_wallets WHERE user_id = :u", u=user_id))

    def messages_of(self, user_id: str) -> list[sa.Row]:
        return self.rows(
            "SELECT id, client_message_id, points_charged, content, conversation_id FROM messages "
            "WHERE sender_id = :u ORDER BY created_at, id",
            u=user_id,
        )

    def snapshot(self) -> dict[str, list[tuple]]:
        """Everything a request could change, to compare before and after an attack."""
        queries = {
            "users": "SELECT id, username, display_name, password_hash FROM users",
            "messages": "SELECT id, sender_id, conversation_id, content, is_read, read_at, delivered_at, "
            "is_expired, expires_at, points_charged, client_message_id, updated_at FROM messages",
            "wallets": "SELECT user_id, balance FROM points_wallets",
            "ledger": "SELECT id, user_id, amount FROM points_transactions",
            "quotas": "SELECT user_id, messages_sent_today, quota_date FROM message_quotas",
            "conversations": "SELECT id, updated_at FROM conversations",
            "participants": "SELECT conversation_id, user_id FROM conversation_participants",
        }
        return {name: sorted(tuple(map(str, row)) for row in self.rows(sql)) for name, sql in queries.items()}

    def check(self) -> dict[str, int]:
        """The invariants of the money and the quota; returns counts for the report."""
        problems: list[str] = []
        for row in self.rows(
            "SELECT w.user_id, w.balance, COALESCE(SUM(t.amount), 0) AS total FROM points_wallets w "
            "LEFT JOIN points_transactions t ON t.user_id = w.user_id GROUP BY w.user_id, w.balance"
        ):
            if row.balance != row.total:
                problems.append(f"wallet of {row.user_id}: balance {row.balance} != ledger sum {row.total}")
            if row.balance < 0:
                problems.append(f"wallet of {row.user_id} is negative: {row.balance}")
        for row in self.rows(
            "SELECT m.id, m.points_charged, COUNT(t.id) AS rows_, COALESCE(SUM(t.amount), 0) AS total "
            "FROM messages m LEFT JOIN points_transactions t ON t.message_id = m.id "
            "GROUP BY m.id, m.points_charged "
            "HAVING COUNT(t.id) <> CASE WHEN m.points_charged > 0 THEN 1 ELSE 0 END "
            "OR COALESCE(SUM(t.amount), 0) <> -m.points_charged"
        ):
            problems.append(
                f"message {row.id} charged {row.points_charged} has {row.rows_} ledger rows "
                f"summing {row.total}"
            )
        for row in self.rows(
            "SELECT t.id, t.amount FROM points_transactions t LEFT JOIN messages m ON m.id = t.message_id "
            "WHERE t.reason = 'message' AND m.id IS NULL"
        ):
            problems.append(f"ledger row {row.id} ({row.amount}) charges a message that does not exist")
        for row in self.rows(
            "SELECT sender_id, client_message_id, COUNT(*) AS n FROM messages "
            "WHERE client_message_id IS NOT NULL GROUP BY sender_id, client_message_id HAVING COUNT(*) > 1"
        ):
            problems.append(f"clientMessageId {row.client_message_id!r} stored {row.n} times")
        for row in self.rows(
            "SELECT q.user_id, q.messages_sent_today, q.quota_date, q.daily_free_limit, "
            "(SELECT COUNT(*) FROM messages m WHERE m.sender_id = q.user_id "
            " AND CAST(m.created_at AT TIME ZONE 'UTC' AS date) = q.quota_date) AS sent, "
            "(SELECT COUNT(*) FROM messages m WHERE m.sender_id = q.user_id AND m.points_charged = 0 "
            " AND CAST(m.created_at AT TIME ZONE 'UTC' AS date) = q.quota_date) AS free "
            "FROM message_quotas q"
        ):
            if row.messages_sent_today != row.sent:  # a count without its message is a half-written send
                problems.append(
                    f"quota of {row.user_id} on {row.quota_date} counts {row.messages_sent_today} "
                    f"but {row.sent} messages were stored that day"
                )
            if row.free > row.daily_free_limit:
                problems.append(f"{row.user_id} sent {row.free} free messages on {row.quota_date}")
        assert not problems, "the books do not balance:\n" + "\n".join(problems)
        return {
            "messages": int(self.scalar("SELECT COUNT(*) FROM messages")),
            "ledger_rows": int(self.scalar("SELECT COUNT(*) FROM points_transactions")),
        }


# --------------------------------------------------------------------------- servers


class Server(LiveServer):
    """A live gunicorn server (support.servers.LiveServer) and the books of its database."""

    books: Books


class AttackLauncher(Launcher):
    """Starts gunicorn servers on fresh migrated databases; keeps an engine per database for the books."""

    def __init__(self, workdir: Path, request: pytest.FixtureRequest) -> None:
        super().__init__(workdir)
        self.request = request
        self.engines: dict[str, sa.Engine] = {}
        self.cleanups: list[Callable[[], None]] = []

    def database(self, label: str) -> str:
        """A fresh database on the shared PostgreSQL (dropped at the end of the session)."""
        return self.request.getfixturevalue("pg_databases").create(f"attack_{label}")

    def engine(self, database_url: str) -> sa.Engine:
        """The engine the books of one database are read with."""
        if database_url not in self.engines:
            self.engines[database_url] = sa.create_engine(
                database_url, pool_size=2, max_overflow=2, pool_pre_ping=True
            )
        return self.engines[database_url]

    def environment(  # type: ignore[override]
        self,
        label: str,
        database_url: str | None = None,
        *,
        production_hashing: bool = False,
        **settings: Any,
    ) -> dict[str, str]:
        """A server environment on a fresh (or the given) database, migrated.

        With `production_hashing` the password hashing keeps the app's production defaults
        (what test_security checks).
        """
        if production_hashing:
            settings = {"PASSWORD_HASH_TIME_COST": None, "PASSWORD_HASH_MEMORY_KIB": None, **settings}
        return super().environment(database_url or self.database(label), **{**POOL_SETTINGS, **settings})

    def start(  # type: ignore[override]
        self, env: dict[str, str], label: str, workers: int = 1, **options: Any
    ) -> Server:
        """Start `gunicorn -k eventlet -w WORKERS` (access log on) and wait until it is ready."""
        server = Server(env, self.workdir / f"{label}.log", label=label, workers=workers, **options)
        server.books = Books(self.engine(env["DATABASE_URL"]))
        self.servers.append(server)
        return server.start()  # type: ignore[return-value]

    def stop_all(self) -> None:
        """Stop the servers, then the private dependencies (last started, first stopped)."""
        super().stop_all()
        for engine in self.engines.values():
            engine.dispose()
        for cleanup in reversed(self.cleanups):
            cleanup()


# --------------------------------------------------------------------------- answers


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


def assert_error_shape(outcome_or_response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer has the status and the one JSON error shape (no stack trace anywhere)."""
    if isinstance(outcome_or_response, Outcome):
        got_status, body, text = (
            outcome_or_response.status,
            outcome_or_response.body,
            str(outcome_or_response.body),
        )
    else:
        got_status, text = outcome_or_response.status_code, outcome_or_response.text
        try:
            body = outcome_or_response.json()
        except ValueError:
            body = text
    assert got_status == status, f"expected {status}, got {got_status}: {text[:500]}"
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), text[:500]
    assert isinstance(body["error"].get("code"), str) and isinstance(body["error"].get("message"), str), body
    if code is not None:
        assert body["error"]["code"] == code, body
    assert not re.search(r"Traceback|File \"/|psycopg2|sqlalchemy|redis\.exceptions", text), text[:2000]
    return body
