"""Socket.IO clients of live servers that record every event they receive.

Sockets are `socketio.Client(reconnection=False)`, over websocket unless told; tests
wait for events with timeouts of at most EVENT_TIMEOUT seconds rather than sleeping.
"""

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
import socketio

from .rest import Account

EVENT_TIMEOUT = 5.0  # the longest a test waits for one event
QUIET_WAIT = 0.5  # how long "nothing arrives" is watched, after a positive control arrived


class HasUrl(Protocol):
    """A live server, as far as sockets care."""

    url: str
    label: str


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

    def connect(
        self,
        url: str,
        *,
        token: str | None = None,
        via: str = "auth",
        auth: Any = None,
        headers: dict[str, str] | None = None,
        transports: tuple[str, ...] = ("websocket",),
    ) -> "Sock":
        """Connect; raises socketio's ConnectionError (and closes) if refused.

        `via` says where the token goes: "auth" (the auth payload), "query" (?token=)
        or "cookie" (the web UI's access cookie).
        """
        headers = dict(headers or {})
        if token is not None and via == "auth":
            auth = {"token": token}
        elif token is not None and via == "query":
            url = f"{url}?token={token}"
        elif token is not None and via == "cookie":
            headers["Cookie"] = f"access_token_cookie={token}"
        try:
            self.client.connect(url, auth=auth, headers=headers, transports=list(transports), wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            self.close()
            raise
        return self

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

    def _wait_until(
        self, found: Callable[[list[Received]], Any], timeout: float, failure: Callable[[], str]
    ) -> Any:
        """What `found` answers about the events as soon as it is not None; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (answer := found(self.events)) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(failure())
                self._cond.wait(left)
            return answer

    def wait_received(
        self,
        name: str,
        match: Callable[[Any], bool] | None = None,
        *,
        since: int = 0,
        timeout: float = EVENT_TIMEOUT,
    ) -> Received:
        """The first `name` event (from `since`) whose payload matches; fail after `timeout`."""

        def first_match(events: list[Received]) -> Received | None:
            return next(
                (e for e in events[since:] if e.name == name and (match is None or match(e.data))), None
            )

        def failure() -> str:
            got = [(e.name, e.data) for e in self.events[since:]]
            return f"{self.label} got no matching {name!r} in {timeout}s; it got {got!r}"

        return self._wait_until(first_match, timeout, failure)

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

    def wait_count(
        self, name: str, count: int, *, since: int = 0, timeout: float = EVENT_TIMEOUT
    ) -> list[Any]:
        """Wait until at least `count` events of a name arrived; their payloads."""

        def enough(events: list[Received]) -> list[Any] | None:
            found = [e.data for e in events[since:] if e.name == name]
            return found if len(found) >= count else None

        def failure() -> str:
            return (
                f"{self.label} got {len(self.payloads(name, since))} of {count} {name!r} events in {timeout}s"
            )

        return self._wait_until(enough, timeout, failure)

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


class Sockets:
    """Opens sockets on live servers and closes every one of them at teardown."""

    def __init__(self) -> None:
        self.opened: list[Sock] = []

    def new(self, label: str, origin: str | None = None) -> Sock:
        """A socket not connected yet (closed at teardown); connect it with Sock.connect."""
        sock = Sock(label, origin)
        self.opened.append(sock)
        return sock

    def open(
        self,
        server: HasUrl,
        who: Account | str | None,
        label: str | None = None,
        origin: str | None = None,
        **kwargs: Any,
    ) -> Sock:
        """A connected socket of `who` (an account or a bare token) on `server`; fail if refused."""
        name = who.username if isinstance(who, Account) else ("anonymous" if who is None else "socket")
        sock = self.new(label or name, origin)
        if who is not None:
            kwargs.setdefault("token", who.token if isinstance(who, Account) else who)
        try:
            sock.connect(server.url, **kwargs)
        except socketio.exceptions.ConnectionError as error:
            pytest.fail(
                f"{sock.label}'s socket was refused by the {server.label} server: {error} {sock.refusal!r}"
            )
        return sock

    def refusal(self, server: HasUrl, label: str, origin: str | None = None, **kwargs: Any) -> Any:
        """Try to connect; assert the server refused; return the connect_error payload."""
        sock = self.new(label, origin)
        try:
            sock.connect(server.url, **kwargs)
        except socketio.exceptions.ConnectionError:
            assert not sock.client.connected
            return sock.refusal
        pytest.fail(f"the {server.label} server accepted {label}'s socket (sid {sock.sid})")

    def close_all(self) -> None:
        """Disconnect every socket opened here."""
        for sock in self.opened:
            sock.close()
        self.opened.clear()
