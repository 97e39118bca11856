"""Helpers of the attack, fuzz and fault tests: servers, private dependencies, the books, tokens, sockets.

Every server here is what operators run, started from the repository root with the
virtualenv's binaries: ``gunicorn -k eventlet -w N wsgi:app`` with APP_ENV=production,
on a fresh database migrated with ``flask --app wsgi db upgrade``. A test that
restarts or kills a dependency gets a PRIVATE one, started here on a port of its own
(``initdb`` + ``pg_ctl`` for PostgreSQL, ``redis-server`` for Redis); the shared
PostgreSQL on 5432 and Redis on 6379 are never stopped, other test sessions use them.

Every test is bounded in time (``budget`` marker, SIGALRM) and ends with the books
checked in the database itself (``Books.check``): each wallet's balance equals the
sum of its ledger, nothing is negative, each paid message has exactly one ledger row,
no clientMessageId was charged twice, and each quota count equals the messages sent
that quota day.
"""

import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
import sqlalchemy as sa
from support.live import (
    BIN,
    PASSWORD,
    TOP_LEVEL,
    Account,
    b64url,
    clean_environment,
    fail_or_skip,
    free_port,
    log_alarms,
    stop_process_group,
)
from support.live import forge_token as _forge_token

JWT_SECRET = "attack-test-secret-0123456789abcdefghijklmnopqrstuvwxyz-0123456789"  # 64+ bytes: HS512 too
PG_BIN = Path("/usr/lib/postgresql/15/bin")

START_TIMEOUT = 45.0
REQUEST_TIMEOUT = 20.0
EVENT_TIMEOUT = 5.0
QUIET_WAIT = 0.5
DEFAULT_BUDGET = 90.0  # seconds per test unless @pytest.mark.budget(n) says otherwise

# Lines in a server's output that always mean a bug: a trace, a 500, a hung worker, a deadlock.
LOG_ALARMS = ("Traceback", "unhandled error", "WORKER TIMEOUT", "deadlock detected", '" 500 ')


def unique_name(prefix: str) -> str:
    """A username nobody has: `prefix_<12 hex>`."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


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


@dataclass
class Server:
    """A running gunicorn (master + workers), its output and shortcuts for its REST API."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]
    workers: int
    books: Books
    _local: threading.local = field(default_factory=threading.local)
    _sessions: list[requests.Session] = field(default_factory=list)

    # ---- the process

    def log(self, since: int = 0) -> str:
        with open(self.log_path, "rb") as handle:
            handle.seek(since)
            return handle.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def assert_alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"gunicorn exited with {self.process.returncode}; output:\n{self.log()[-20000:]}")

    def alarms(self, since: int = 0) -> list[str]:
        lines = self.log(since).splitlines()
        return [lines[n] for n in log_alarms("\n".join(lines), LOG_ALARMS)]

    def assert_clean_log(self, since: int = 0) -> None:
        alarms = self.alarms(since)
        assert not alarms, (
            "server output shows errors:\n" + "\n".join(alarms[:20]) + "\n" + self.log()[-8000:]
        )

    def worker_pids(self) -> list[int]:
        """The pids of gunicorn's workers: the children of the master."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return sorted(int(pid) for pid in children)

    # ---- REST

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            self._sessions.append(session)
        return session

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP request with a timeout, on a keep-alive session of the calling thread."""
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        return self.session().request(method, self.url + path, **kwargs)

    def fresh_request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP request on a new connection."""
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        return requests.request(method, self.url + path, **kwargs)

    def close_sessions(self) -> None:
        for session in self._sessions:
            session.close()

    def register(self, username: str, password: str = PASSWORD) -> requests.Response:
        return self.request("POST", "/api/auth/register", json={"username": username, "password": password})

    def login(self, username: str, password: str = PASSWORD, **kwargs: Any) -> requests.Response:
        return self.request(
            "POST", "/api/auth/login", json={"username": username, "password": password}, **kwargs
        )

    def logged_in(self, username: str) -> Account:
        response = self.login(username)
        assert response.status_code == 200, response.text
        body = response.json()
        return Account(body["user"]["id"], username, body["accessToken"])

    def account(self, prefix: str = "u") -> Account:
        """Register and log in a new user."""
        username = unique_name(prefix)
        response = self.register(username)
        assert response.status_code == 201, response.text
        return self.logged_in(username)

    def conversation(self, who: Account, other: Account) -> str:
        response = self.request(
            "POST", "/api/conversations/create", json={"receiverId": other.id}, headers=who.headers
        )
        assert response.status_code in (200, 201), response.text
        return response.json()["conversation"]["id"]

    def send(
        self, who: Account, conversation_id: str, content: str = "hello", **extra: Any
    ) -> requests.Response:
        return self.request(
            "POST",
            "/api/messages/send",
            json={"conversationId": conversation_id, "content": content, **extra},
            headers=who.headers,
        )

    def sent(
        self, who: Account, conversation_id: str, content: str = "hello", **extra: Any
    ) -> dict[str, Any]:
        response = self.send(who, conversation_id, content, **extra)
        assert response.status_code == 201, response.text
        return response.json()

    def messages(self, who: Account, conversation_id: str, **params: Any) -> requests.Response:
        return self.request(
            "GET", "/api/messages", params={"conversationId": conversation_id, **params}, headers=who.headers
        )

    def all_messages(self, who: Account, conversation_id: str) -> list[dict[str, Any]]:
        """Every visible message, oldest first (the newest page, then older pages with `before=`)."""
        response = self.messages(who, conversation_id, limit=100)
        assert response.status_code == 200, response.text
        page = response.json()
        found, more = page["messages"], page["hasMore"]
        while more:
            response = self.messages(who, conversation_id, limit=100, before=found[0]["id"])
            assert response.status_code == 200, response.text
            found, more = response.json()["messages"] + found, response.json()["hasMore"]
        return found

    def quota(self, who: Account) -> dict[str, Any]:
        response = self.request("GET", "/api/messages/quota", headers=who.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def grant(self, who: Account, amount: int) -> None:
        """`flask points grant USER AMOUNT`, the way an operator credits a wallet."""
        run_flask(self.env, "points", "grant", who.username, str(amount))


def server_env(
    database_url: str, instance_path: Path, *, production_hashing: bool = False, **extra: str
) -> dict:
    """The environment of a server and of the CLI run against its database."""
    env = clean_environment()
    env.update(
        APP_ENV="production",
        JWT_SECRET=JWT_SECRET,
        DATABASE_URL=database_url,
        INSTANCE_PATH=str(instance_path),
        JWT_COOKIE_SECURE="false",
        DAILY_FREE_MESSAGES="20",
        POINTS_PER_MESSAGE="10",
        INITIAL_POINTS="0",
        CONVERSATION_POINTS_COST="0",
        QUOTA_TIMEZONE="UTC",
        DB_POOL_SIZE="8",
        DB_MAX_OVERFLOW="4",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    if not production_hashing:  # the production defaults are what test_security checks
        env.update(PASSWORD_HASH_TIME_COST="1", PASSWORD_HASH_MEMORY_KIB="8")
    env.update(extra)
    return env


def run_flask(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`flask --app wsgi ARGS` against the server's database; fails the test if it fails."""
    command = [str(BIN / "flask"), "--app", "wsgi", *args]
    result = subprocess.run(
        command, cwd=TOP_LEVEL, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


class Launcher:
    """Starts gunicorn servers (migrating their database first); stops them all at teardown."""

    def __init__(self, workdir: Path, request: pytest.FixtureRequest) -> None:
        self.workdir = workdir
        self.request = request
        self.servers: list[Server] = []
        self.engines: dict[str, sa.Engine] = {}
        self.cleanups: list[Callable[[], None]] = []

    def database(self, label: str) -> str:
        """A fresh database on the shared PostgreSQL (dropped at the end of the session)."""
        return self.request.getfixturevalue("pg_databases").create(f"attack_{label}")

    def engine(self, database_url: str) -> sa.Engine:
        if database_url not in self.engines:
            self.engines[database_url] = sa.create_engine(
                database_url, pool_size=2, max_overflow=2, pool_pre_ping=True
            )
        return self.engines[database_url]

    def environment(self, label: str, database_url: str | None = None, **settings: Any) -> dict[str, str]:
        """A server environment on a fresh (or the given) database, migrated."""
        database_url = database_url or self.database(label)
        env = server_env(database_url, self.workdir / "instance", **settings)
        run_flask(env, "db", "upgrade")
        return env

    def start(self, env: dict[str, str], label: str, workers: int = 1, port: int | None = None) -> Server:
        port = port or free_port()
        log_path = self.workdir / f"{label}.log"
        command = [
            str(BIN / "gunicorn"),
            "-k",
            "eventlet",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "-",
            "--log-level",
            "info",
            "--graceful-timeout",
            "3",
            "wsgi:app",
        ]
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                command,
                cwd=TOP_LEVEL,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(
            f"http://127.0.0.1:{port}",
            process,
            log_path,
            env,
            workers,
            Books(self.engine(env["DATABASE_URL"])),
        )
        self.servers.append(server)
        wait_until_ready(server)
        return server

    def stop(self, server: Server) -> None:
        server.close_sessions()
        stop_process_group(server.process)

    def stop_all(self) -> None:
        """Stop the servers, then the private dependencies (last started, first stopped)."""
        for server in self.servers:
            self.stop(server)
        for engine in self.engines.values():
            engine.dispose()
        for cleanup in reversed(self.cleanups):
            cleanup()


def wait_until_ready(server: Server, timeout: float = START_TIMEOUT) -> None:
    """Wait for /healthz to answer 200 and every worker to boot; fail if gunicorn dies."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"gunicorn exited early ({server.process.returncode}):\n{server.log()[-20000:]}")
        booted = server.log().count("Booting worker with pid")
        try:
            response = requests.get(server.url + "/healthz", timeout=2)
            if response.status_code == 200 and booted >= server.workers:
                return
            last = f"{response.status_code} {response.text[:200]}; {booted} workers booted"
        except requests.RequestException as error:
            last = repr(error)
        time.sleep(0.1)
    pytest.fail(f"gunicorn not ready in {timeout}s ({last}):\n{server.log()[-20000:]}")


# --------------------------------------------------------------------------- tokens


def forge_token(user_id: str, *, key: str = JWT_SECRET, **options: Any) -> str:
    """A token signed with this suite's key unless told otherwise."""
    return _forge_token(user_id, key=key, **options)


def with_payload(token: str, **changes: Any) -> str:
    """The token with its payload changed and its original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{b64url(claims)}.{signature}"


# --------------------------------------------------------------------------- sockets


class Sock:
    """A python-socketio client that records every event it receives."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.client = socketio.Client(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.refusal: Any = None
        self._cond = threading.Condition()
        self.client.on("*", self._record)
        self.client.on("connect_error", self._refused)

    def _record(self, name: str, *args: Any) -> None:
        with self._cond:
            self.events.append((name, args[0] if len(args) == 1 else list(args)))
            self._cond.notify_all()

    def _refused(self, *args: Any) -> None:
        self.refusal = args[0] if len(args) == 1 else list(args)

    def connect(self, server: Server, token: str, transports: tuple[str, ...] = ("websocket",)) -> "Sock":
        self.client.connect(server.url, auth={"token": token}, transports=list(transports), wait_timeout=5)
        return self

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def received(self, name: str | None = None, since: int = 0) -> list[Any]:
        with self._cond:
            return [data for n, data in self.events[since:] if name is None or n == name]

    def wait_for(
        self,
        name: str,
        match: Callable[[Any], bool] | None = None,
        *,
        since: int = 0,
        timeout: float = EVENT_TIMEOUT,
    ) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event, data in self.events[since:]:
                    if event == name and (match is None or match(data)):
                        return data
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(
                        f"{self.label} got no matching {name!r} in {timeout}s; got {self.events[since:]!r}"
                    )
                self._cond.wait(left)

    def wait_count(
        self, name: str, count: int, *, since: int = 0, timeout: float = EVENT_TIMEOUT
    ) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [data for n, data in self.events[since:] if n == name]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"{self.label} got {len(found)} of {count} {name!r} in {timeout}s")
                self._cond.wait(left)

    def assert_quiet(self, *names: str, since: int = 0, wait: float = QUIET_WAIT) -> None:
        time.sleep(wait)
        unexpected = [(n, d) for n, d in self.events[since:] if not names or n in names]
        assert not unexpected, f"{self.label} received {unexpected!r}"

    def call(self, event: str, data: Any, timeout: float = EVENT_TIMEOUT) -> Any:
        return self.client.call(event, data, timeout=timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.client.connected:
                self.client.disconnect()
        with contextlib.suppress(Exception):
            self.client.shutdown()


class Sockets:
    def __init__(self) -> None:
        self.opened: list[Sock] = []

    def open(self, server: Server, who: Account | str, label: str = "") -> Sock:
        token = who if isinstance(who, str) else who.token
        sock = Sock(label or (who.username if isinstance(who, Account) else "socket"))
        self.opened.append(sock)
        try:
            return sock.connect(server, token)
        except socketio.exceptions.ConnectionError as error:
            pytest.fail(f"{sock.label}'s socket was refused: {error} {sock.refusal!r}")

    def refusal(self, server: Server, token: str, label: str = "refused") -> Any:
        """Try to connect; assert that the server refused; the connect_error payload."""
        sock = Sock(label)
        self.opened.append(sock)
        try:
            sock.connect(server, token)
        except socketio.exceptions.ConnectionError:
            assert not sock.client.connected
            return sock.refusal if sock.refusal is not None else "refused"
        pytest.fail(f"the server accepted {label}'s socket")

    def close_all(self) -> None:
        for sock in self.opened:
            sock.close()
        self.opened.clear()


# --------------------------------------------------------------------------- bursts


@dataclass(frozen=True)
class Outcome:
    """One request of a burst: its status (0 when the connection failed), body, headers."""

    status: int
    body: Any
    headers: dict[str, str]
    error: str = ""


def outcome_of(call: Callable[[], requests.Response]) -> Outcome:
    try:
        response = call()
    except requests.RequestException as error:
        return Outcome(0, None, {}, f"{error.__class__.__name__}: {error}")
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return Outcome(response.status_code, body, dict(response.headers))


def burst(
    calls: list[Callable[[], requests.Response]], threads: int | None = None, timeout: float = 60
) -> list[Outcome]:
    """Fire the calls at once from a thread pool (a barrier releases them together)."""
    from concurrent.futures import ThreadPoolExecutor

    count = threads or len(calls)
    barrier = threading.Barrier(min(count, len(calls)), timeout=30)

    def fire(call: Callable[[], requests.Response]) -> Outcome:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return outcome_of(call)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(fire, call) for call in calls]
        return [future.result(timeout=timeout) for future in futures]


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
