"""The load generator: a separate process that drives the servers over loopback.

    python -m bench.loadgen    (reads one JSON command a line on stdin, answers one JSON line)

asyncio with aiohttp keep-alive connections for REST and python-socketio's AsyncClient
(websocket transport only) for sockets. Every loop is bounded by a duration and a
request count. Latencies are measured on this process's monotonic clock; in open-loop
commands they start at the *scheduled* send time, so a late load generator or a
queue in front of the server counts against the server, never hides it.
"""

import asyncio
import contextlib
import gc
import itertools
import json
import math
import random
import resource
import sys
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

SAMPLE = 3000  # latencies kept per round for plots
REQUEST_TIMEOUT = 30.0


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(values_s: list[float]) -> dict[str, Any]:
    """count, mean, p50, p90, p99, max of latencies given in seconds, in milliseconds."""
    ms = [v * 1000 for v in values_s]
    if not ms:
        return {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    return {
        "count": len(ms),
        "mean": sum(ms) / len(ms),
        "p50": percentile(ms, 0.50),
        "p90": percentile(ms, 0.90),
        "p99": percentile(ms, 0.99),
        "max": max(ms),
    }


def sample(values_s: list[float]) -> list[float]:
    """At most SAMPLE latencies (ms, rounded), for the plots."""
    chosen = values_s if len(values_s) <= SAMPLE else random.sample(values_s, SAMPLE)
    return [round(v * 1000, 3) for v in chosen]


def prepared(request: dict[str, Any], base_url: str) -> tuple[str, str, dict[str, str], str]:
    """(method, url, headers, body template with __TAG__) of a request template."""
    headers = dict(request.get("headers") or {})
    body = ""
    if "json" in request:
        headers["Content-Type"] = "application/json"
        body = json.dumps(request["json"])
    return request.get("method", "GET"), request.get("url", base_url) + request["path"], headers, body


class LagMonitor:
    """How late this event loop wakes up (a loaded load generator inflates every latency)."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.period)
            self.lags.append(max(0.0, loop.time() - before - self.period))

    def __enter__(self) -> "LagMonitor":
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._task:
            self._task.cancel()

    def report(self) -> dict[str, Any]:
        """p99 and max lag, ms."""
        s = summary(self.lags)
        return {"p99": s["p99"], "max": s["max"]}


# --------------------------------------------------------------------------- sockets


@dataclass
class Pending:
    """A message on its way to one socket."""

    receiver: str
    scheduled: float
    ok: bool = False
    arrived: float | None = None
    future: asyncio.Future[float] | None = None


@dataclass
class Sim:
    """What the sockets do when messages arrive in the current round."""

    pending: dict[str, Pending] = field(default_factory=dict)
    ack: bool = False  # emit message:ack, as the web UI does
    read: bool = False  # POST /api/messages/read {conversationId}, as the open chat does
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    events: Counter[str] = field(default_factory=Counter)


class State:
    """The load generator's state across commands: socket sets and the current round."""

    def __init__(self) -> None:
        self.sets: dict[str, list[SimSocket]] = {}
        self.sim = Sim()
        self.http: aiohttp.ClientSession | None = None
        self.http_limit = 0

    async def session(self, limit: int) -> aiohttp.ClientSession:
        """A keep-alive session with `limit` connections (reused while the limit is the same)."""
        if self.http is None or self.http_limit != limit:
            if self.http is not None:
                await self.http.close()
            connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=None, force_close=False)
            self.http = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
            )
            self.http_limit = limit
        return self.http


STATE = State()


async def timed_request(
    session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], body: str
) -> tuple[str, float, Any]:
    """(status, seconds, parsed JSON or None) of one request; errors become a status string."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        async with session.request(method, url, headers=headers, data=body or None) as response:
            raw = await response.read()
            status = str(response.status)
            data = None
            if raw and response.content_type == "application/json":
                with contextlib.suppress(ValueError):
                    data = json.loads(raw)
    except Exception as error:
        return f"error:{type(error).__name__}", loop.time() - start, None
    return status, loop.time() - start, data


class SimSocket:
    """One simulated user's socket: records message arrivals, acks and reads like the web UI."""

    def __init__(self, user: dict[str, Any], base_url: str) -> None:
        self.user = user
        self.base_url = base_url
        self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("message:new", self.on_message)
        self.client.on("*", self.on_other)
        self.client.on("disconnect", self.on_disconnect)
        self.disconnected = False

    async def connect(self) -> None:
        """Connect over websocket with the token in the auth payload."""
        await self.client.connect(
            self.base_url,
            auth={"token": self.user["token"]},
            transports=["websocket"],
            wait_timeout=20,
        )

    async def on_disconnect(self, *args: Any) -> None:
        """The server dropped us (or we left)."""
        self.disconnected = True

    async def on_other(self, event: str, *args: Any) -> None:
        """Count every other event (quota:update, typing, receipts)."""
        STATE.sim.events[event] += 1

    async def on_message(self, message: dict[str, Any]) -> None:
        """Record the arrival; ack it and mark it read when the round says the chat is open."""
        now = asyncio.get_running_loop().time()
        sim = STATE.sim
        sim.events["message:new"] += 1
        content = message.get("content", "")
        tag = content.rsplit(" ", 1)[-1]
        pending = sim.pending.get(tag)
        if pending is not None and pending.receiver == self.user["id"] and pending.arrived is None:
            pending.arrived = now
            if pending.future is not None and not pending.future.done():
                pending.future.set_result(now)
        if message.get("senderId") == self.user["id"] or "id" not in message:
            return
        if sim.ack:
            task = asyncio.ensure_future(self.client.emit("message:ack", {"messageIds": [message["id"]]}))
            sim.tasks.add(task)
            task.add_done_callback(sim.tasks.discard)
        if sim.read:
            task = asyncio.ensure_future(self.mark_read())
            sim.tasks.add(task)
            task.add_done_callback(sim.tasks.discard)

    async def mark_read(self) -> None:
        """POST /api/messages/read {conversationId}, as the open chat does for a new message."""
        session = STATE.http
        assert session is not None
        body = json.dumps({"conversationId": self.user["conversation_id"]})
        headers = {"Authorization": f"Bearer {self.user['token']}", "Content-Type": "application/json"}
        status, seconds, _ = await timed_request(
            session, "POST", self.base_url + "/api/messages/read", headers, body
        )
        STATE.sim.statuses[f"read:{status}"] += 1
        STATE.sim.latencies.setdefault("read", []).append(seconds)

    async def close(self) -> None:
        """Disconnect (idempotent)."""
        with contextlib.suppress(Exception):
            await self.client.disconnect()


# --------------------------------------------------------------------------- commands


async def cmd_ping(_: dict[str, Any]) -> dict[str, Any]:
    """Answer, once imports are done."""
    return {"ok": True, "pid": __import__("os").getpid()}


async def cmd_http_closed(args: dict[str, Any]) -> dict[str, Any]:
    """Closed loop: `connections` keep-alive connections, each sending the next request as soon
    as its last one answered, for `duration` seconds (at most `max_requests`)."""
    loop = asyncio.get_running_loop()
    connections = int(args["connections"])
    session = await STATE.session(connections)
    templates = [prepared(r, args.get("url", "")) for r in args["requests"]]
    counter = itertools.count()
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    max_requests = int(args.get("max_requests", 10**7))
    warmup = float(args.get("warmup", 0.5))
    tag = uuid.uuid4().hex[:8]

    async def worker(stop_at: float, record: bool) -> None:
        while loop.time() < stop_at:
            i = next(counter)
            if i >= max_requests:
                return
            method, url, headers, body = templates[i % len(templates)]
            status, seconds, _ = await timed_request(
                session, method, url, headers, body.replace("__TAG__", f"{tag}-{i}")
            )
            if record and loop.time() <= stop_at + REQUEST_TIMEOUT:
                statuses[status] += 1
                if status.startswith("2"):
                    latencies.append(seconds)

    if warmup > 0:  # open the connections and warm the server's code paths; not recorded
        await asyncio.gather(*(worker(loop.time() + warmup, False) for _ in range(connections)))
    gc.collect()
    with LagMonitor() as lag:
        started = loop.time()
        await asyncio.gather(*(worker(started + float(args["duration"]), True) for _ in range(connections)))
        elapsed = loop.time() - started
    ok = sum(n for s, n in statuses.items() if s.startswith("2"))
    return {
        "elapsed": elapsed,
        "requests": sum(statuses.values()),
        "ok": ok,
        "throughput": ok / elapsed,
        "statuses": dict(statuses),
        "latency_ms": summary(latencies),
        "latency_sample_ms": sample(latencies),
        "loop_lag_ms": lag.report(),
    }


async def cmd_http_open(args: dict[str, Any]) -> dict[str, Any]:
    """Open loop: requests at a fixed `rate` for `duration` seconds over keep-alive connections;
    latency from each request's scheduled time to its answer."""
    loop = asyncio.get_running_loop()
    session = await STATE.session(int(args.get("connections", 32)))
    templates = [prepared(r, args.get("url", "")) for r in args["requests"]]
    rate, duration = float(args["rate"]), float(args["duration"])
    total = min(int(rate * duration), int(args.get("max_requests", 10**6)))
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    tag = uuid.uuid4().hex[:8]

    async def one(i: int, scheduled: float) -> None:
        method, url, headers, body = templates[i % len(templates)]
        status, _, _ = await timed_request(
            session, method, url, headers, body.replace("__TAG__", f"{tag}-{i}")
        )
        statuses[status] += 1
        if status.startswith("2"):
            latencies.append(loop.time() - scheduled)

    gc.collect()
    tasks = []
    with LagMonitor() as lag:
        start = loop.time() + 0.05
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(i, scheduled)))
        await asyncio.gather(*tasks)
    return {
        "rate": rate,
        "requests": total,
        "statuses": dict(statuses),
        "latency_ms": summary(latencies),
        "latency_sample_ms": sample(latencies),
        "loop_lag_ms": lag.report(),
    }


async def cmd_sockets_connect(args: dict[str, Any]) -> dict[str, Any]:
    """Connect one socket per user (websocket only) into the named set; `concurrency` at a time."""
    loop = asyncio.get_running_loop()
    users = args["users"]
    socks = STATE.sets.setdefault(args["set"], [])
    semaphore = asyncio.Semaphore(int(args.get("concurrency", 50)))
    failures: Counter[str] = Counter()
    started = loop.time()

    async def one(user: dict[str, Any]) -> None:
        sock = SimSocket(user, user.get("url", args["url"]))
        async with semaphore:
            try:
                await sock.connect()
            except Exception as error:
                failures[type(error).__name__ + ": " + str(error)[:80]] += 1
                await sock.close()
                return
        socks.append(sock)

    await asyncio.gather(*(one(u) for u in users))
    return {
        "connected": len(users) - sum(failures.values()),
        "failed": sum(failures.values()),
        "failures": dict(failures.most_common(5)),
        "seconds": loop.time() - started,
        "total_in_set": len(socks),
    }


async def cmd_sockets_status(args: dict[str, Any]) -> dict[str, Any]:
    """How many sockets of a set are still connected."""
    socks = STATE.sets.get(args["set"], [])
    return {
        "total": len(socks),
        "connected": sum(1 for s in socks if s.client.connected and not s.disconnected),
    }


async def cmd_sockets_close(args: dict[str, Any]) -> dict[str, Any]:
    """Disconnect every socket of a set."""
    socks = STATE.sets.pop(args["set"], [])
    semaphore = asyncio.Semaphore(100)

    async def one(sock: SimSocket) -> None:
        async with semaphore:
            await sock.close()

    await asyncio.gather(*(one(s) for s in socks))
    return {"closed": len(socks)}


async def _wait_arrivals(sim: Sim, ok_tags: list[str], grace: float) -> None:
    """Wait until every message that was accepted arrived, or `grace` seconds."""
    deadline = asyncio.get_running_loop().time() + grace
    while asyncio.get_running_loop().time() < deadline:
        if all(sim.pending[t].arrived is not None for t in ok_tags):
            return
        await asyncio.sleep(0.02)


async def cmd_fanout_open(args: dict[str, Any]) -> dict[str, Any]:
    """Open loop: sends at a fixed `rate` for `duration` seconds (round robin over the templates);
    latency from each send's scheduled time to its arrival at the receiver's socket."""
    loop = asyncio.get_running_loop()
    session = await STATE.session(int(args.get("connections", 64)))
    templates = [(prepared(r, args["url"]), r["receiver"]) for r in args["requests"]]
    rate, duration = float(args["rate"]), float(args["duration"])
    total = min(int(rate * duration), int(args.get("max_requests", 10**6)))
    sim = STATE.sim = Sim()
    statuses: Counter[str] = Counter()
    http_latencies: list[float] = []
    lateness: list[float] = []
    tags: list[str] = []
    prefix = uuid.uuid4().hex[:8]
    tasks = []

    async def send(i: int, scheduled: float) -> None:
        (method, url, headers, body), receiver = templates[i % len(templates)]
        tag = f"{prefix}-{i}"
        sim.pending[tag] = pending = Pending(receiver, scheduled)
        tags.append(tag)
        lateness.append(loop.time() - scheduled)
        status, seconds, _ = await timed_request(session, method, url, headers, body.replace("__TAG__", tag))
        statuses[status] += 1
        http_latencies.append(seconds)
        pending.ok = status.startswith("2")

    gc.collect()
    with LagMonitor() as lag:
        start = loop.time() + 0.05
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(send(i, scheduled)))
        await asyncio.gather(*tasks)
        ok_tags = [t for t in tags if sim.pending[t].ok]
        await _wait_arrivals(sim, ok_tags, float(args.get("grace", 5.0)))
    arrived = [sim.pending[t].arrived - sim.pending[t].scheduled for t in ok_tags if sim.pending[t].arrived]
    STATE.sim = Sim()
    return {
        "rate": rate,
        "sent": total,
        "accepted": len(ok_tags),
        "received": len(arrived),
        "lost": len(ok_tags) - len(arrived),
        "statuses": dict(statuses),
        "latency_ms": summary(arrived),
        "latency_sample_ms": sample(arrived),
        "http_ms": summary(http_latencies),
        "send_lateness_ms": summary(lateness),
        "loop_lag_ms": lag.report(),
    }


async def cmd_fanout_closed(args: dict[str, Any]) -> dict[str, Any]:
    """Closed loop: `concurrency` senders, each sending and waiting for the receiver's socket to
    get it before the next; throughput is messages received per second."""
    loop = asyncio.get_running_loop()
    concurrency = int(args["concurrency"])
    session = await STATE.session(concurrency)
    templates = [(prepared(r, args["url"]), r["receiver"]) for r in args["requests"]]
    sim = STATE.sim = Sim()
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    counter = itertools.count()
    prefix = uuid.uuid4().hex[:8]
    lost = 0
    wait = float(args.get("receipt_timeout", 5.0))

    async def worker(stop_at: float, record: bool) -> None:
        nonlocal lost
        while loop.time() < stop_at:
            i = next(counter)
            (method, url, headers, body), receiver = templates[i % len(templates)]
            tag = f"{prefix}-{i}"
            start = loop.time()
            future: asyncio.Future[float] = loop.create_future()
            sim.pending[tag] = Pending(receiver, start, future=future)
            status, _, _ = await timed_request(session, method, url, headers, body.replace("__TAG__", tag))
            if record:
                statuses[status] += 1
            if not status.startswith("2"):
                continue
            try:
                arrived = await asyncio.wait_for(future, wait)
            except TimeoutError:
                if record:
                    lost += 1
                continue
            if record and arrived <= stop_at:
                latencies.append(arrived - start)

    warmup = float(args.get("warmup", 0.5))
    if warmup > 0:
        await asyncio.gather(*(worker(loop.time() + warmup, False) for _ in range(concurrency)))
    sim.pending.clear()
    gc.collect()
    with LagMonitor() as lag:
        started = loop.time()
        await asyncio.gather(*(worker(started + float(args["duration"]), True) for _ in range(concurrency)))
        elapsed = min(loop.time() - started, float(args["duration"]))
    STATE.sim = Sim()
    return {
        "elapsed": elapsed,
        "received": len(latencies),
        "throughput": len(latencies) / elapsed,
        "lost": lost,
        "statuses": dict(statuses),
        "latency_ms": summary(latencies),
        "latency_sample_ms": sample(latencies),
        "loop_lag_ms": lag.report(),
    }


async def cmd_capacity(args: dict[str, Any]) -> dict[str, Any]:
    """Simulated users of a socket set: each sends every `interval` seconds (random phase), types
    first, and reads what arrives (ack + read receipt); some also reload their page.

    With `ceiling`, the same schedule goes through /bench/ceiling/emit instead (no database,
    no typing, acks or reads): the floor of the fan-out at this many sockets and this rate.
    """
    loop = asyncio.get_running_loop()
    socks = sorted(STATE.sets[args["set"]], key=lambda s: s.user["index"])[: int(args["users"])]
    by_index = {s.user["index"]: s for s in socks}
    session = await STATE.session(int(args.get("connections", 64)))
    interval, duration = float(args["interval"]), float(args["duration"])
    ceiling = bool(args.get("ceiling", False))
    typing_lead = float(args.get("typing_lead", 2.0))
    fetch_every = int(args.get("fetch_every", 5))  # one send in this many also reloads the page
    sim = STATE.sim = Sim(ack=not ceiling, read=not ceiling)
    prefix = uuid.uuid4().hex[:8]
    tags: list[str] = []
    lateness: list[float] = []
    requests = 0
    max_requests = int(args.get("max_requests", 200_000))

    start = loop.time() + max(0.2, typing_lead)
    schedule: list[tuple[float, int, SimSocket]] = []
    for sock in socks:
        t = start + random.uniform(0, interval)
        while t < start + duration:
            schedule.append((t, id(sock), sock))
            t += interval
    schedule.sort(key=lambda item: item[0])

    def spawn(coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        sim.tasks.add(task)
        task.add_done_callback(sim.tasks.discard)

    async def rest(kind: str, sock: SimSocket, method: str, path: str, body: Any = None) -> Any:
        nonlocal requests
        requests += 1
        headers = {"Authorization": f"Bearer {sock.user['token']}"}
        data = ""
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        status, seconds, parsed = await timed_request(session, method, sock.base_url + path, headers, data)
        sim.statuses[f"{kind}:{status}"] += 1
        sim.latencies.setdefault(kind, []).append(seconds)
        return parsed

    async def typing(sock: SimSocket, is_typing: bool) -> None:
        with contextlib.suppress(Exception):
            await sock.client.emit(
                "typing", {"conversationId": sock.user["conversation_id"], "isTyping": is_typing}
            )

    async def send(sock: SimSocket, scheduled: float, number: int) -> None:
        nonlocal requests
        tag = f"{prefix}-{number}"
        partner = by_index.get(sock.user["partner"])
        if partner is None:
            return
        sim.pending[tag] = pending = Pending(partner.user["id"], scheduled)
        tags.append(tag)
        lateness.append(loop.time() - scheduled)
        if ceiling:
            payload = {"conversationId": sock.user["conversation_id"], "senderId": sock.user["id"]}
            payload["content"] = f"capacity {tag}"
            requests += 1
            body = json.dumps({"userId": partner.user["id"], "payload": payload})
            status, seconds, _ = await timed_request(
                session,
                "POST",
                sock.base_url + "/bench/ceiling/emit",
                {"Content-Type": "application/json"},
                body,
            )
            sim.statuses[f"emit:{status}"] += 1
            sim.latencies.setdefault("emit", []).append(seconds)
            pending.ok = status.startswith("2")
            return
        await typing(sock, False)  # the composer says it stopped typing, then sends
        body = {
            "conversationId": sock.user["conversation_id"],
            "content": f"capacity {tag}",
            "clientMessageId": uuid.uuid4().hex,
            "maxCost": 10,
        }
        parsed = await rest("send", sock, "POST", "/api/messages/send", body)
        pending.ok = isinstance(parsed, dict) and "message" in parsed
        if number % fetch_every == 0:  # this user reloads the page: quota, list, latest page
            await rest("quota", sock, "GET", "/api/messages/quota")
            await rest("conversations", sock, "GET", "/api/conversations")
            await rest(
                "fetch", sock, "GET", f"/api/messages?conversationId={sock.user['conversation_id']}&limit=50"
            )

    gc.collect()
    with LagMonitor() as lag:
        typing_events = (
            []
            if ceiling or typing_lead <= 0
            else [(t - typing_lead, key, sock) for t, key, sock in schedule if t - typing_lead >= loop.time()]
        )
        timeline = sorted(
            [(t, 0, i, key, sock) for i, (t, key, sock) in enumerate(schedule)]
            + [(t, 1, i, key, sock) for i, (t, key, sock) in enumerate(typing_events)],
            key=lambda item: item[0],
        )
        for t, kind, number, _key, sock in timeline:
            if requests >= max_requests:
                break
            delay = t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if kind == 1:
                spawn(typing(sock, True))
            else:
                spawn(send(sock, t, number))
        # Let the last sends answer, then wait for what they deliver.
        deadline = loop.time() + REQUEST_TIMEOUT
        while loop.time() < deadline and any(not task.done() for task in list(sim.tasks)):
            ok_tags = [t for t in tags if sim.pending[t].ok]
            if all(sim.pending[t].arrived is not None for t in ok_tags) and len(sim.tasks) == 0:
                break
            await asyncio.sleep(0.05)
        ok_tags = [t for t in tags if sim.pending[t].ok]
        await _wait_arrivals(sim, ok_tags, float(args.get("grace", 5.0)))
        await asyncio.sleep(0.3)  # acks and read receipts of the last arrivals
        if sim.tasks:
            await asyncio.wait(list(sim.tasks), timeout=REQUEST_TIMEOUT)
    arrived = [sim.pending[t].arrived - sim.pending[t].scheduled for t in ok_tags if sim.pending[t].arrived]
    disconnected = sum(1 for s in socks if s.disconnected or not s.client.connected)
    result = {
        "users": len(socks),
        "ceiling": ceiling,
        "scheduled_sends": len(schedule),
        "sends_started": len(tags),
        "accepted": len(ok_tags),
        "received": len(arrived),
        "lost": len(ok_tags) - len(arrived),
        "disconnected": disconnected,
        "requests": requests,
        "statuses": dict(sim.statuses),
        "events": dict(sim.events),
        "latency_ms": summary(arrived),
        "latency_sample_ms": sample(arrived),
        "request_ms": {kind: summary(values) for kind, values in sim.latencies.items()},
        "send_lateness_ms": summary(lateness),
        "loop_lag_ms": lag.report(),
    }
    STATE.sim = Sim()
    return result


async def cmd_quit(_: dict[str, Any]) -> dict[str, Any]:
    """Close everything; the main loop exits after answering."""
    for name in list(STATE.sets):
        await cmd_sockets_close({"set": name})
    if STATE.http is not None:
        await STATE.http.close()
    return {"ok": True}


COMMANDS = {
    "ping": cmd_ping,
    "http_closed": cmd_http_closed,
    "http_open": cmd_http_open,
    "sockets_connect": cmd_sockets_connect,
    "sockets_status": cmd_sockets_status,
    "sockets_close": cmd_sockets_close,
    "fanout_open": cmd_fanout_open,
    "fanout_closed": cmd_fanout_closed,
    "capacity": cmd_capacity,
    "quit": cmd_quit,
}


def raise_open_file_limit() -> None:
    """Thousands of sockets need thousands of descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def main() -> None:
    """Read commands from stdin, answer each on stdout."""
    raise_open_file_limit()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        command = json.loads(line)
        op = command.pop("op")
        try:
            answer = await COMMANDS[op](command)
        except Exception as error:
            traceback.print_exc()
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
        if op == "quit":
            break


if __name__ == "__main__":
    started = time.time()
    asyncio.run(main())
