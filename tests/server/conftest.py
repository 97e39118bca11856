"""A real gunicorn server (2 eventlet workers) on a fresh, migrated PostgreSQL database."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

TOP_LEVEL = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TEST_JWT_SECRET = "server-test-secret-0123456789abcdefghijkl"  # 40 characters
WORKERS = 2
# The app's default pool (40 + 40 overflow per process) lets 2 workers open up to 160 connections;
# a 60-request burst then takes ~60 of PostgreSQL's default max_connections (100), and whenever
# other test sessions share that server some sends get "too many clients already" (answered
# 503). 10 + 10 per worker caps this server at 40 connections; the extra requests queue in the
# pool, so sends still contend on the same row locks.
DB_POOL_SIZE = 10
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
# Settings of the outer environment that would change what these tests expect.
_INHERITED_SETTINGS = (
    "SOCKETIO_MESSAGE_QUEUE",
    "RATELIMIT_STORAGE_URI",
    "SEND_RATE_LIMIT",
    "APP_SALT",
    "DB_POOL_TIMEOUT",
    "JWT_ACCESS_TOKEN_EXPIRES",
    "MIN_EXPIRATION_HOURS",
    "MAX_EXPIRATION_HOURS",
    "MAX_MESSAGE_LENGTH",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_ADDRESS_FAILURE_LIMIT",
)
# Lines in the server's log that always mean a bug (or a hang) on the server side.
LOG_ALARMS = ("Traceback", "unhandled error", "WORKER TIMEOUT", "deadlock detected", "dependency unavailable")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, instance_path: Path) -> dict[str, str]:
    """The environment of the server and of the CLI commands run against its database."""
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED_SETTINGS}
    env.update(
        DATABASE_URL=database_url,
        APP_ENV="production",
        JWT_SECRET=TEST_JWT_SECRET,
        RATELIMIT_ENABLED="false",
        PASSWORD_HASH_TIME_COST="1",
        PASSWORD_HASH_MEMORY_KIB="8",
        INSTANCE_PATH=str(instance_path),
        DAILY_FREE_MESSAGES="20",
        POINTS_PER_MESSAGE="10",
        INITIAL_POINTS="0",
        CONVERSATION_POINTS_COST="0",
        QUOTA_TIMEZONE="UTC",
        DB_POOL_SIZE=str(DB_POOL_SIZE),
        PYTHONUNBUFFERED="1",
    )
    return env


def run_flask(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `flask --app wsgi ARGS` against the test database; fail the test if it fails."""
    command = [str(BIN / "flask"), "--app", "wsgi", *args]
    result = subprocess.run(
        command, cwd=TOP_LEVEL, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


@dataclass
class Account:
    """A registered, logged-in user of the live server."""

    id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of this user."""
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class LiveServer:
    """The running server, its database and shortcuts for the REST API."""

    url: str
    database_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    engine: sa.Engine
    _accounts: list[Account] = field(default_factory=list)

    def log(self, since: int = 0) -> str:
        """The server's stderr (gunicorn and app logs) from byte offset `since`."""
        with open(self.log_path, "rb") as handle:
            handle.seek(since)
            return handle.read().decode(errors="replace")

    def log_size(self) -> int:
        """The current length of the server's log, to read only what a test caused."""
        return self.log_path.stat().st_size

    def assert_alive(self) -> None:
        """Fail with the server's log if gunicorn has exited."""
        if self.process.poll() is not None:
            pytest.fail(f"gunicorn exited with {self.process.returncode}; log:\n{self.log()}")

    def assert_clean_log(self, since: int) -> None:
        """Fail if the server logged a trace, a 500, a worker timeout or a deadlock since `since`."""
        text = self.log(since)
        alarms = [line for line in text.splitlines() if any(alarm in line for alarm in LOG_ALARMS)]
        assert not alarms, "server log shows errors:\n" + text[-20000:]

    def deadlocks(self) -> int:
        """How many deadlocks PostgreSQL has detected in the test database (cumulative)."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP request with a timeout (a new connection each time)."""
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        return requests.request(method, self.url + path, **kwargs)

    def account(self, prefix: str = "u") -> Account:
        """Register and log in a new user with a unique name."""
        username = f"{prefix}_{uuid.uuid4().hex[:12]}"
        response = self.request(
            "POST", "/api/auth/register", json={"username": username, "password": "password123"}
        )
        assert response.status_code == 201, response.text
        response = self.request(
            "POST", "/api/auth/login", json={"username": username, "password": "password123"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return Account(body["user"]["id"], username, body["accessToken"])

    def conversation(self, who: Account, other: Account) -> str:
        """Start the pair's conversation; returns its id."""
        response = self.request(
            "POST", "/api/conversations/create", json={"receiverId": other.id}, headers=who.headers
        )
        assert response.status_code in (200, 201), response.text
        return response.json()["conversation"]["id"]

    def send(
        self, who: Account, conversation_id: str, content: str = "hello", **extra: Any
    ) -> requests.Response:
        """POST /api/messages/send."""
        return self.request(
            "POST",
            "/api/messages/send",
            json={"conversationId": conversation_id, "content": content, **extra},
            headers=who.headers,
        )

    def quota(self, who: Account) -> dict[str, Any]:
        """GET /api/messages/quota (asserting 200)."""
        response = self.request("GET", "/api/messages/quota", headers=who.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def grant(self, who: Account, amount: int) -> None:
        """`flask points grant USER AMOUNT`, as an operator would run it."""
        run_flask(self.env, "points", "grant", who.username, str(amount))


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    """Wait for both workers to boot and /healthz to answer 200; fail if gunicorn dies or hangs."""
    deadline = time.monotonic() + START_TIMEOUT
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace")
            pytest.fail(f"gunicorn exited early with {process.returncode}; log:\n{log}")
        booted = log_path.read_text(errors="replace").count("Booting worker with pid")
        try:
            response = requests.get(url + "/healthz", timeout=2)
            if response.status_code == 200 and response.json() == {"status": "ok"} and booted >= WORKERS:
                return
            last_error = f"{response.status_code} {response.text[:200]}, {booted} workers booted"
        except requests.RequestException as error:
            last_error = repr(error)
        time.sleep(0.2)
    pytest.fail(
        f"gunicorn did not become ready in {START_TIMEOUT}s ({last_error}); log:\n"
        f"{log_path.read_text(errors='replace')}"
    )


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal gunicorn's process group (it was started in a session of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate gunicorn's process group (arbiter and workers), then kill it if it lingers."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=10)
    else:  # the arbiter is gone; make sure no orphaned worker of its group survives
        _signal_group(process, signal.SIGKILL)


@pytest.fixture(scope="module")
def live_server(pg_databases: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """gunicorn -k eventlet -w 2 on a fresh migrated PostgreSQL database; yields the running server."""
    database_url = pg_databases.create("server")
    workdir = tmp_path_factory.mktemp("gunicorn")
    env = server_env(database_url, workdir / "instance")
    run_flask(env, "db", "upgrade")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "gunicorn.log"
    command = [
        str(BIN / "gunicorn"),
        "-k",
        "eventlet",
        "-w",
        str(WORKERS),
        "--reuse-port",
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "info",
        "wsgi:app",
    ]
    engine = sa.create_engine(database_url, pool_size=2, max_overflow=2)
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, cwd=TOP_LEVEL, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_ready(process, url, log_path)
        server = LiveServer(url, database_url, env, process, log_path, engine)
        yield server
        server.assert_alive()
    finally:
        _stop(process)
        engine.dispose()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so a fixture can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def server_log_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """When a test using the live server fails, show what the server logged meanwhile."""
    if "live_server" not in request.fixturenames:
        yield
        return
    server: LiveServer = request.getfixturevalue("live_server")
    since = server.log_size()
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(f"--- server log during {request.node.name} ---\n{server.log(since)[-20000:]}")
