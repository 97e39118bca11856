"""A graceful stop or restart drops the stopping process's sockets at once, so clients reconnect and catch up.

The harness runs gunicorn with `--graceful-timeout 5`: a worker that held its websockets
for the graceful timeout would drop them only after 5 s, and exit only then.
"""

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import socketio
from support.databases import RedisDatabase
from support.pytest_live import require_redis
from support.rest import Account
from support.servers import Launcher, LiveServer
from support.settings import queue_settings
from support.sockets import Sock, Sockets

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("realtime")]

PROMPT = 2.0  # "at once": well under the harness's graceful timeout (5 s)
RECONNECT_WITHIN = 30.0  # a new worker boots meanwhile (two shared cores)
# The web UI's websocket, long-polling, and long-polling upgraded to a websocket.
TRANSPORTS = [("websocket",), ("polling",), ("polling", "websocket")]


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """Servers of one test, stopped at its end."""
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.stop_all()


def start(launcher: Launcher, kind: str, request: pytest.FixtureRequest) -> LiveServer:
    """`python wsgi.py` on SQLite, or `gunicorn -k eventlet -w 1` on PostgreSQL."""
    if kind == "eventlet":
        database_url = f"sqlite:///{launcher.workdir / 'messaging.db'}"
    else:
        database_url = request.getfixturevalue("pg_databases").create("graceful")
    return launcher.start(launcher.environment(database_url), kind, kind=kind)


def watched(sock: Sock) -> Sock:
    """The socket, recording why and when (time.monotonic) it was dropped in `sock.dropped`."""

    def gone(reason: str = "") -> None:
        sock.dropped = (reason, time.monotonic())  # type: ignore[attr-defined]
        sock.disconnected.set()

    sock.client.on("disconnect", gone)
    return sock


def assert_dropped_at_once(socks: list[Sock], since: float) -> None:
    """Every socket was dropped within PROMPT of `since`, as a lost transport (which clients reconnect
    from), not a Socket.IO disconnect (which the web UI reads as "logged out")."""
    for sock in socks:
        left = since + PROMPT - time.monotonic()
        assert sock.disconnected.wait(max(left, 0)), (
            f"{sock.label} still connected {PROMPT}s after the signal"
        )
        reason, _at = sock.dropped  # type: ignore[attr-defined]
        assert reason != socketio.Client.reason.SERVER_DISCONNECT, f"{sock.label}: {reason}"


def reconnected(sockets: Sockets, server: LiveServer, who: Account, label: str) -> Sock:
    """A socket of `who` on `server`, retried (as clients do) until a live worker takes it."""
    deadline = time.monotonic() + RECONNECT_WITHIN
    while True:
        sock = sockets.new(label)
        try:
            return sock.connect(server.url, token=who.token)
        except socketio.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_gone(pid: int, timeout: float) -> bool:
    """Whether process `pid` is gone (or a zombie) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


# gunicorn's graceful stop, and `python wsgi.py` stopped by SIGTERM or by Ctrl+C in its terminal.
STOPS = [("gunicorn", signal.SIGTERM), ("eventlet", signal.SIGTERM), ("eventlet", signal.SIGINT)]


@pytest.mark.parametrize(("kind", "stop"), STOPS, ids=[f"{k}-{s.name}" for k, s in STOPS])
def test_a_stop_signal_drops_every_socket_at_once_and_the_server_exits_cleanly(
    kind: str, stop: signal.Signals, launcher: Launcher, sockets: Sockets, request: pytest.FixtureRequest
) -> None:
    server = start(launcher, kind, request)
    a, b = server.account("a"), server.account("b")
    held = [
        watched(
            sockets.open(server, who, f"{who.username} over {'+'.join(transports)}", transports=transports)
        )
        for transports in TRANSPORTS
        for who in (a, b)
    ]
    since = server.log_size()
    assert server.process is not None
    server.close_sessions()  # an idle keep-alive connection would hold gunicorn's worker for 2 s

    signalled = time.monotonic()
    server.process.send_signal(stop)
    assert_dropped_at_once(held, signalled)
    code = server.process.wait(timeout=PROMPT + 1)
    assert time.monotonic() - signalled < PROMPT + 1, "the server waited out its graceful timeout"
    assert code == 0, f"the {kind} server exited with {code}"
    server.assert_clean_log(since)


def test_sigterm_to_the_worker_drops_its_sockets_and_gunicorn_replaces_it(
    launcher: Launcher, sockets: Sockets, request: pytest.FixtureRequest
) -> None:
    server = start(launcher, "gunicorn", request)
    a, b = server.account("a"), server.account("b")
    chat = server.conversation(a, b)
    held = [watched(sockets.open(server, who)) for who in (a, b)]
    old_worker = server.worker_pid()
    since = server.log_size()
    server.close_sessions()  # an idle keep-alive connection would hold the worker for 2 s

    signalled = time.monotonic()
    os.kill(old_worker, signal.SIGTERM)
    assert_dropped_at_once(held, signalled)
    assert wait_gone(old_worker, PROMPT), "the old worker waited out its graceful timeout"

    back = reconnected(sockets, server, b, "b again")
    message = server.sent(a, chat, "after the new worker came up")["message"]
    assert back.wait_for("message:new", lambda m: m["id"] == message["id"]) == message
    server.assert_alive()
    server.assert_clean_log(since)


def test_a_graceful_reload_moves_clients_to_the_new_worker_at_once_and_they_catch_up(
    launcher: Launcher, sockets: Sockets, request: pytest.FixtureRequest
) -> None:
    server = start(launcher, "gunicorn", request)
    assert server.process is not None
    a, b = server.account("a"), server.account("b")
    chat = server.conversation(a, b)
    held = [watched(sockets.open(server, who)) for who in (a, b)]
    old_worker = server.worker_pid()
    before = server.sent(a, chat, "before the reload")["message"]
    since = server.log_size()
    server.close_sessions()  # an idle keep-alive connection would hold the old worker for 2 s

    signalled = time.monotonic()
    server.process.send_signal(signal.SIGHUP)  # new workers, then the old ones stop gracefully
    assert_dropped_at_once(held, signalled)
    # Clients come back at once; the old worker, still draining, must not take them.
    back = reconnected(sockets, server, b, "b after the reload")
    assert wait_gone(old_worker, PROMPT), "the old worker waited out its graceful timeout"

    sent = server.sent(a, chat, "after the reload")["message"]
    assert back.wait_for("message:new", lambda m: m["id"] == sent["id"]) == sent
    caught_up = server.messages(b, chat, after=before["id"]).json()["messages"]
    assert [m["id"] for m in caught_up] == [sent["id"]]
    server.assert_alive()
    server.assert_clean_log(since)


def test_sigterm_to_one_of_two_processes_sends_its_clients_to_the_other_which_delivers_to_them(
    launcher: Launcher, sockets: Sockets, request: pytest.FixtureRequest
) -> None:
    require_redis()
    claimed = RedisDatabase()
    request.addfinalizer(claimed.release)
    env = launcher.environment(
        request.getfixturevalue("pg_databases").create("graceful_pair"), **queue_settings(claimed.url)
    )
    stopping, staying = (launcher.server(env, f"process-{n}") for n in (1, 2))
    launcher.start_many([stopping, staying])
    a, b = stopping.account("a"), staying.account("b")
    chat = staying.conversation(a, b)
    held = [watched(sockets.open(stopping, who, f"{who.username} on 1")) for who in (a, b)]
    since = stopping.log_size()
    stopping.close_sessions()
    assert stopping.process is not None

    signalled = time.monotonic()
    stopping.process.send_signal(signal.SIGTERM)
    assert_dropped_at_once(held, signalled)
    moved = reconnected(sockets, staying, b, "b on 2")
    sent = staying.sent(a, chat, "through the process that stays")["message"]
    assert moved.wait_for("message:new", lambda m: m["id"] == sent["id"]) == sent
    assert stopping.process.wait(timeout=PROMPT + 1) == 0
    stopping.assert_clean_log(since)
    staying.assert_clean_log()
