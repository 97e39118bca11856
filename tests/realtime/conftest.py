"""Real server processes and python-socketio clients for the realtime tests.

Servers are started the way operators start them, from the repository root with
the virtualenv's binaries:

- ``eventlet``: ``python wsgi.py --host 127.0.0.1 --port N`` (what ``make run`` serves
  with) on a fresh, migrated SQLite file;
- ``gunicorn``: ``gunicorn -k eventlet -w 1 wsgi:app`` (with its access log on) on a
  fresh, migrated PostgreSQL database;
- ``server_pair``: two such gunicorn processes on one PostgreSQL database, sharing a
  Redis DB of their own for the Socket.IO queue, the rate limits and the socket registry.

Each server runs in its own process group with its output captured in a file; the
group is killed at teardown. Sockets are ``socketio.Client(reconnection=False)`` over
websocket only; every received event is recorded, and tests wait for events with
timeouts of at most EVENT_TIMEOUT seconds rather than sleeping.
"""

import contextlib
import random
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import socketio
from support.live import (
    BIN,
    IN_CI,
    PASSWORD,
    TOP_LEVEL,
    Account,
    clean_environment,
    free_port,
    log_alarms,
    stop_process_group,
    unsigned_token,
)
from support.live import forge_token as _forge_token

JWT_SECRET = "realtime-test-secret-0123456789abcdefghijklmnopqrstuv"  # 52 characters
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_CLAIM_KEY = "realtime-tests:claimed-by"

START_TIMEOUT = 45.0
REQUEST_TIMEOUT = 15.0
EVENT_TIMEOUT = 5.0  # the longest any test waits for one event
QUIET_WAIT = 0.5  # how long "nothing arrives" is watched, after a positive control arrived

# Lines in a server's output that always mean a bug on the server side.
LOG_ALARMS = ("Traceback", "WORKER TIMEOUT", "Exception in", "deadlock detected")


# --------------------------------------------------------------------------- helpers


def server_env(database_url: str, instance_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a server process and of the CLI run against its database."""
    env = clean_environment()
    env.update(
        APP_ENV="production",
        JWT_SECRET=JWT_SECRET,
        DATABASE_URL=database_url,
        PASSWORD_HASH_TIME_COST="1",
        PASSWORD_HASH_MEMORY_KIB="8",
        INSTANCE_PATH=str(instance_path),
        DAILY_FREE_MESSAGES="20",
        POINTS_PER_MESSAGE="10",
        INITIAL_POINTS="0",
        CONVERSATION_POINTS_COST="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> None:
    """`flask --app wsgi db upgrade` against the server's database; fail the test if it fails."""
    command = [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"]
    result = subprocess.run(
        command, cwd=TOP_LEVEL, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")


def require_redis() -> None:
    """Skip without Redis locally; in CI a missing Redis fails the run."""
    try:
        redis.Redis(REDIS_HOST, REDIS_PORT, socket_timeout=3, socket_connect_timeout=3).ping()
        return
    except redis.RedisError as error:
        reason = f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT} ({error})"
    if IN_CI:
        pytest.fail(reason + " and CI=true")
    pytest.skip(reason)


def claim_redis_db() -> tuple[int, redis.Redis]:
    """An empty Redis DB number that no other test run uses, claimed with a marker key."""
    probe = redis.Redis(REDIS_HOST, REDIS_PORT, socket_timeout=3)
    count = int(probe.config_get("databases").get("databases", 16))
    probe.close()
    me = uuid.uuid4().hex
    numbers = list(range(1, count))
    random.shuffle(numbers)
    for number in numbers:
        conn = redis.Redis(REDIS_HOST, REDIS_PORT, db=number, socket_timeout=3)
        if conn.set(REDIS_CLAIM_KEY, me, nx=True, ex=3600):
            if conn.dbsize() == 1:
                return number, conn
            conn.delete(REDIS_CLAIM_KEY)  # someone else's data lives here
        conn.close()
    pytest.fail("no empty Redis database is free for the realtime tests")


def forge_token(user_id: str, *, key: str = JWT_SECRET, **options: Any) -> str:
    """A token signed with this suite's key unless told otherwise."""
    return _forge_token(user_id, key=key, **options)


# --------------------------------------------------------------------------- sockets


@dataclass
class Received:
    """One event a socket received, with the moment (time.perf_counter) it arrived."""

    name: str
    data: Any
    at: float


class Sock:
    """A python-socketio client that records what it receives.

    python-socketio runs each incoming event's handler in its own thread, so the
    order of `events` is the order of arrival only roughly; tests check order through
    the REST API, not through this list.
    """

    def __init__(self, label: str, origin: str | None = None) -> None:
        self.label = label
        options = {"origin": origin} if origin else {}
        self.client = socketio.Client(reconnection=False, websocket_extra_options=options)
        self.events: list[Received] = []
        self.refusal: Any = None
        self.disconnected = threading.Event()
        self._cond = threading.Condition()
        self.client.on("*", self._record)
        self.client.on("connect_error", self._refused)
        self.client.on("disconnect", self._gone)

    def _record(self, name: str, *args: Any) -> None:
        at = time.perf_counter()
        with self._cond:
            self.events.append(Received(name, args[0] if len(args) == 1 else list(args), at))
            self._cond.notify_all()

    def _refused(self, *args: Any) -> None:
        self.refusal = args[0] if len(args) == 1 else list(args)

    def _gone(self, *args: Any) -> None:
        self.disconnected.set()

    @property
    def sid(self) -> str | None:
        """The socket id on the default namespace (None when not connected)."""
        return self.client.get_sid()

    @property
    def connected(self) -> bool:
        """Whether the socket is connected and the server has not dropped it."""
        return self.client.connected and not self.disconnected.is_set()

    def mark(self) -> int:
        """A position in the event list, for `since=`."""
        with self._cond:
            return len(self.events)

    def received(self, name: str | None = None, since: int = 0) -> list[Received]:
        """Events received (of one name) from position `since`."""
        with self._cond:
            return [e for e in self.events[since:] if name is None or e.name == name]

    def payloads(self, name: str, since: int = 0) -> list[Any]:
        """The payloads of the events of one name."""
        return [e.data for e in self.received(name, since)]

    def wait_received(
        self,
        name: str,
        match: Callable[[Any], bool] | None = None,
        *,
        since: int = 0,
        timeout: float = EVENT_TIMEOUT,
    ) -> Received:
        """The first `name` event (from `since`) whose payload matches; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[since:]:
                    if event.name == name and (match is None or match(event.data)):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [(e.name, e.data) for e in self.events[since:]]
                    pytest.fail(f"{self.label} got no matching {name!r} in {timeout}s; it got {got!r}")
                self._cond.wait(left)

    def wait_for(
        self,
        name: str,
        match: Callable[[Any], bool] | None = None,
        *,
        since: int = 0,
        timeout: float = EVENT_TIMEOUT,
    ) -> Any:
        """The payload of the first `name` event (from `since`) that matches; fail after `timeout`."""
        return self.wait_received(name, match, since=since, timeout=timeout).data

    def wait_count(self, name: str, count: int, *, since: int = 0, timeout: float = EVENT_TIMEOUT) -> list:
        """Wait until at least `count` events of a name arrived; their payloads."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [e.data for e in self.events[since:] if e.name == name]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"{self.label} got {len(found)} of {count} {name!r} events in {timeout}s")
                self._cond.wait(left)

    def assert_quiet(self, *names: str, since: int = 0, wait: float = QUIET_WAIT) -> None:
        """Assert that no event (of these names) arrives from `since`, watching for `wait` seconds."""
        deadline = time.monotonic() + wait
        with self._cond:
            while (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            unexpected = [(e.name, e.data) for e in self.events[since:] if not names or e.name in names]
        assert not unexpected, f"{self.label} received {unexpected!r}"

    def call(self, event: str, data: Any, timeout: float = EVENT_TIMEOUT) -> Any:
        """Emit an event and return the server's ack."""
        return self.client.call(event, data, timeout=timeout)

    def emit(self, event: str, data: Any) -> None:
        """Emit an event without waiting for an ack."""
        self.client.emit(event, data)

    def close(self) -> None:
        """Disconnect (idempotent)."""
        with contextlib.suppress(Exception):  # the server may already have dropped it
            if self.client.connected:
                self.client.disconnect()
        with contextlib.suppress(Exception):
            self.client.shutdown()


# --------------------------------------------------------------------------- servers


@dataclass
class LiveServer:
    """A running server process, its output and shortcuts for its REST API and sockets."""

    kind: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]
    _local: threading.local = field(default_factory=threading.local)
    _sessions: list[requests.Session] = field(default_factory=list)

    # ---- the process

    def log(self, since: int = 0) -> str:
        """The server's output (stdout and stderr) from byte offset `since`."""
        with open(self.log_path, "rb") as handle:
            handle.seek(since)
            return handle.read().decode(errors="replace")

    def log_size(self) -> int:
        """The current length of the server's output."""
        return self.log_path.stat().st_size

    def worker_pid(self) -> int:
        """The pid of the process that holds the sockets (gunicorn's worker, or the server itself)."""
        if self.kind == "eventlet":
            return self.process.pid
        pids = re.findall(r"Booting worker with pid: (\d+)", self.log())
        assert pids, "gunicorn logged no worker:\n" + self.log()
        return int(pids[-1])

    def rss_kib(self) -> int:
        """The resident memory of the socket-holding process, in KiB (from /proc)."""
        status = Path(f"/proc/{self.worker_pid()}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match, status
        return int(match.group(1))

    def assert_alive(self) -> None:
        """Fail with the server's output if the process has exited."""
        if self.process.poll() is not None:
            pytest.fail(f"{self.kind} server exited with {self.process.returncode}; output:\n{self.log()}")

    def assert_clean_log(self, since: int = 0) -> None:
        """Fail if the server printed a trace or a worker timeout since `since`."""
        text = self.log(since)
        lines = text.splitlines()
        alarms = log_alarms(text, LOG_ALARMS)
        excerpts = "\n---\n".join("\n".join(lines[n : n + 40])[:6000] for n in alarms[:3])
        assert not alarms, f"{self.kind} server output shows errors:\n{excerpts}"

    # ---- REST

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP request with a timeout (on a keep-alive session of the calling thread)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            self._sessions.append(session)
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        return session.request(method, self.url + path, **kwargs)

    def close_sessions(self) -> None:
        """Close the HTTP sessions of every thread."""
        for session in self._sessions:
            session.close()

    def login(self, username: str) -> Account:
        """Log in (a new token each time)."""
        response = self.request("POST", "/api/auth/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        body = response.json()
        return Account(body["user"]["id"], username, body["accessToken"])

    def account(self, prefix: str = "u") -> Account:
        """Register and log in a new user with a unique name."""
        username = f"{prefix}_{uuid.uuid4().hex[:12]}"
        response = self.request(
            "POST", "/api/auth/register", json={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 201, response.text
        return self.login(username)

    def logout(self, who: Account) -> requests.Response:
        """POST /api/auth/logout with the account's token."""
        return self.request("POST", "/api/auth/logout", headers=who.headers)

    def start_conversation(self, who: Account, other: Account) -> requests.Response:
        """POST /api/conversations/create."""
        return self.request(
            "POST", "/api/conversations/create", json={"receiverId": other.id}, headers=who.headers
        )

    def conversation(self, who: Account, other: Account) -> str:
        """The pair's conversation id (started if needed)."""
        response = self.start_conversation(who, other)
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

    def sent(self, who: Account, conversation_id: str, content: str = "hello", **extra: Any) -> dict:
        """Send a message, asserting 201; the response body."""
        response = self.send(who, conversation_id, content, **extra)
        assert response.status_code == 201, response.text
        return response.json()

    def read(self, who: Account, conversation_id: str, **extra: Any) -> requests.Response:
        """POST /api/messages/read."""
        return self.request(
            "POST",
            "/api/messages/read",
            json={"conversationId": conversation_id, **extra},
            headers=who.headers,
        )

    def messages(self, who: Account, conversation_id: str, **params: Any) -> requests.Response:
        """GET /api/messages."""
        return self.request(
            "GET", "/api/messages", params={"conversationId": conversation_id, **params}, headers=who.headers
        )

    def quota(self, who: Account) -> dict:
        """GET /api/messages/quota (asserting 200)."""
        response = self.request("GET", "/api/messages/quota", headers=who.headers)
        assert response.status_code == 200, response.text
        return response.json()

    # ---- sockets

    def socket_url(self, query: str = "") -> str:
        """The server's URL, with an optional query string for the Socket.IO handshake."""
        return self.url + (f"?{query}" if query else "")

    def connect(
        self,
        sock: Sock,
        *,
        token: str | None = None,
        via: str = "auth",
        auth: Any = None,
        headers: dict[str, str] | None = None,
        transports: tuple[str, ...] = ("websocket",),
    ) -> Sock:
        """Connect a socket (websocket only unless told); raises socketio ConnectionError if refused.

        `via` says where the token goes: "auth" (the auth payload), "query" (?token=)
        or "cookie" (the web UI's access cookie).
        """
        url = self.url
        headers = dict(headers or {})
        if token is not None and via == "auth":
            auth = {"token": token}
        elif token is not None and via == "query":
            url = self.socket_url(f"token={token}")
        elif token is not None and via == "cookie":
            headers["Cookie"] = f"access_token_cookie={token}"
        try:
            sock.client.connect(url, auth=auth, headers=headers, transports=list(transports), wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            sock.close()
            raise
        return sock


class Sockets:
    """Opens sockets on live servers and closes every one of them at teardown."""

    def __init__(self) -> None:
        self.opened: list[Sock] = []

    def new(self, label: str, origin: str | None = None) -> Sock:
        """A socket not connected yet (closed at teardown); connect it with LiveServer.connect."""
        sock = Sock(label, origin)
        self.opened.append(sock)
        return sock

    def open(
        self,
        server: LiveServer,
        who: Account | None,
        label: str | None = None,
        origin: str | None = None,
        **kwargs: Any,
    ) -> Sock:
        """A connected socket of `who` on `server` (its token in the auth payload unless told)."""
        sock = self.new(label or (who.username if who else "anonymous"), origin)
        if who is not None:
            kwargs.setdefault("token", who.token)
        try:
            server.connect(sock, **kwargs)
        except socketio.exceptions.ConnectionError as error:
            pytest.fail(
                f"{sock.label}'s socket was refused by the {server.kind} server: {error} {sock.refusal!r}"
            )
        return sock

    def refusal(self, server: LiveServer, label: str, origin: str | None = None, **kwargs: Any) -> Any:
        """Try to connect; assert the server refused; return the connect_error payload."""
        sock = self.new(label, origin)
        try:
            server.connect(sock, **kwargs)
        except socketio.exceptions.ConnectionError:
            assert not sock.client.connected
            return sock.refusal
        pytest.fail(f"the {server.kind} server accepted {label}'s socket (sid {sock.sid})")

    def close_all(self) -> None:
        """Disconnect every socket opened here."""
        for sock in self.opened:
            sock.close()
        self.opened.clear()


def _wait_until_ready(server: LiveServer, workers: int) -> None:
    """Wait for /healthz to answer 200 (and gunicorn's workers to boot); fail if the server dies."""
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"{server.kind} server exited early ({server.process.returncode}):\n{server.log()}")
        booted = server.log().count("Booting worker with pid") if server.kind == "gunicorn" else workers
        try:
            response = requests.get(server.url + "/healthz", timeout=2)
            if response.status_code == 200 and response.json() == {"status": "ok"} and booted >= workers:
                return
            last = f"{response.status_code} {response.text[:200]}; {booted} workers booted"
        except requests.RequestException as error:
            last = repr(error)
        time.sleep(0.1)
    pytest.fail(f"{server.kind} server not ready in {START_TIMEOUT}s ({last}):\n{server.log()}")


class ServerLauncher:
    """Starts server processes; stops them all at teardown."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.servers: list[LiveServer] = []

    def start(self, kind: str, env: dict[str, str], label: str) -> LiveServer:
        """Start `python wsgi.py` (kind "eventlet") or `gunicorn -k eventlet -w 1` (kind "gunicorn")."""
        port = free_port()
        if kind == "eventlet":
            command = [str(BIN / "python"), "wsgi.py", "--host", "127.0.0.1", "--port", str(port)]
        else:
            command = [
                str(BIN / "gunicorn"),
                "-k",
                "eventlet",
                "-w",
                "1",
                "-b",
                f"127.0.0.1:{port}",
                "--access-logfile",
                "-",
                "--log-level",
                "info",
                "--no-control-socket",  # else every gunicorn on the host shares ~/.gunicorn/gunicorn.ctl
                "wsgi:app",
            ]
        log_path = self.workdir / f"{label}.log"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                command,
                cwd=TOP_LEVEL,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = LiveServer(kind, f"http://127.0.0.1:{port}", process, log_path, env)
        self.servers.append(server)
        _wait_until_ready(server, workers=1)
        return server

    def stop_all(self) -> None:
        """Stop every server started here."""
        for server in self.servers:
            server.close_sessions()
            stop_process_group(server.process)


def _database_for(kind: str, request: pytest.FixtureRequest, workdir: Path) -> str:
    if kind == "eventlet":
        return f"sqlite:///{workdir / 'messaging.db'}"
    return request.getfixturevalue("pg_databases").create("realtime")


# --------------------------------------------------------------------------- fixtures

SERVER_KINDS = ["eventlet", "gunicorn"]


@pytest.fixture(scope="session", params=SERVER_KINDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server process: `python wsgi.py` on SQLite, or `gunicorn -k eventlet -w 1` on PostgreSQL."""
    kind = request.param
    workdir = tmp_path_factory.mktemp(f"realtime-{kind}")
    env = server_env(_database_for(kind, request, workdir), workdir / "instance")
    migrate(env)
    launcher = ServerLauncher(workdir)
    try:
        live = launcher.start(kind, env, kind)
        yield live
        live.assert_alive()
        live.assert_clean_log()
    finally:
        launcher.stop_all()


# Low enough for a test to reach it through both processes; the other pair tests stay under it.
PAIR_SEND_RATE_LIMIT = "6 per minute"


@dataclass
class ServerPair:
    """Two gunicorn processes on one database and one Redis DB."""

    first: LiveServer
    second: LiveServer
    redis_db: int
    redis: redis.Redis
    send_rate_limit: int = int(PAIR_SEND_RATE_LIMIT.split()[0])


@pytest.fixture(scope="module")
def server_pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerPair]:
    """Two `gunicorn -k eventlet -w 1` processes sharing PostgreSQL and a Redis queue of their own."""
    require_redis()
    database_url = request.getfixturevalue("pg_databases").create("realtime_pair")
    number, conn = claim_redis_db()
    try:
        workdir = tmp_path_factory.mktemp("realtime-pair")
        redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
        env = server_env(
            database_url,
            workdir / "instance",
            SOCKETIO_MESSAGE_QUEUE=redis_url,
            SOCKETIO_CHANNEL=f"realtime-{uuid.uuid4().hex}",
            RATELIMIT_STORAGE_URI=redis_url,
            SEND_RATE_LIMIT=PAIR_SEND_RATE_LIMIT,
        )
        migrate(env)
        launcher = ServerLauncher(workdir)
        try:
            first = launcher.start("gunicorn", env, "process-1")
            second = launcher.start("gunicorn", env, "process-2")
            yield ServerPair(first, second, number, conn)
            for live in (first, second):
                live.assert_alive()
                live.assert_clean_log()
        finally:
            launcher.stop_all()
    finally:
        conn.flushdb()
        conn.close()


@pytest.fixture
def sockets() -> Iterator[Sockets]:
    """Opens sockets; closes all of them when the test ends."""
    opened = Sockets()
    yield opened
    opened.close_all()


class TokenForge:
    """Tokens a client could make up, for the refusal tests (the server's key is JWT_SECRET)."""

    secret = JWT_SECRET
    signed = staticmethod(forge_token)
    unsigned = staticmethod(unsigned_token)


@pytest.fixture
def forge() -> TokenForge:
    """Makes tokens: signed with any key, expired, of another type, or unsigned (`alg: none`)."""
    return TokenForge()


@pytest.fixture
def record_figure(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """Record a measured figure with `record_property`.

    (With --junitxml in the default xunit2 family, record_property only warns, which this
    suite turns into an error; the figures then go to `record_testsuite_property` instead.)
    """
    junit_xml = getattr(request.config.option, "xmlpath", None)
    if junit_xml and request.config.getini("junit_family") == "xunit2":
        return request.getfixturevalue("record_testsuite_property")
    return request.getfixturevalue("record_property")
