"""Many sockets on one process: they stay connected and each gets its own message.

Also measures (and prints, and records with record_property)  the REST send ->
socket receipt latency over 200 messages and the server's resident memory per idle
connection. Nothing is asserted on those numbers.
"""

import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support.servers import LiveServer
from support.sockets import Sockets

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.xdist_group("realtime")]


SOCKETS = 200
PER_SENDER = 20  # within the daily free quota (20) and the send rate limit (120 a minute)


def nearest_rank(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def test_200_sockets_stay_connected_and_each_receives_its_own_message(
    server: LiveServer, sockets: Sockets, record_figure: Any
) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        senders = list(pool.map(lambda _: server.account("s"), range(SOCKETS // PER_SENDER)))
        receivers = list(pool.map(lambda _: server.account("r"), range(SOCKETS)))
        chats = list(
            pool.map(lambda i: server.conversation(senders[i // PER_SENDER], receivers[i]), range(SOCKETS))
        )
    prepared = time.monotonic()

    rss_before = server.rss_kib()
    socks = [sockets.open(server, user, f"receiver {i}") for i, user in enumerate(receivers)]
    connected = time.monotonic()
    rss_after = server.rss_kib()
    assert all(sock.connected for sock in socks)
    assert len({sock.sid for sock in socks}) == SOCKETS

    latencies = []
    sent_ids = []
    for i, (sock, chat) in enumerate(zip(socks, chats, strict=True)):
        begin = time.perf_counter()
        message_id = server.sent(senders[i // PER_SENDER], chat, f"for receiver {i}")["message"]["id"]
        arrival = sock.wait_received("message:new", lambda m, mid=message_id: m["id"] == mid)
        latencies.append(arrival.at - begin)
        sent_ids.append(message_id)
    delivered = time.monotonic()

    assert [sock.connected for sock in socks].count(False) == 0, "sockets were dropped"
    wrong = [
        (i, ids)
        for i, sock in enumerate(socks)
        if (ids := [m["id"] for m in sock.payloads("message:new")]) != [sent_ids[i]]
    ]
    assert not wrong, f"sockets that got other messages than their own: {wrong[:5]}"
    server.assert_alive()

    p50, p99 = nearest_rank(latencies, 0.50) * 1000, nearest_rank(latencies, 0.99) * 1000
    per_socket_kib = (rss_after - rss_before) / SOCKETS
    figures = {
        f"{server.kind}_send_to_socket_p50_ms": round(p50, 2),
        f"{server.kind}_send_to_socket_p99_ms": round(p99, 2),
        f"{server.kind}_send_to_socket_max_ms": round(max(latencies) * 1000, 2),
        f"{server.kind}_rss_before_kib": rss_before,
        f"{server.kind}_rss_after_{SOCKETS}_sockets_kib": rss_after,
        f"{server.kind}_rss_per_idle_socket_kib": round(per_socket_kib, 1),
    }
    for name, value in figures.items():
        record_figure(name, value)
    print(
        f"\n[{server.kind}] {SOCKETS} sockets: setup {prepared - started:.1f}s, "
        f"connect {connected - prepared:.1f}s, send+receive {delivered - connected:.1f}s; "
        f"REST send -> socket receipt p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms, max {max(latencies) * 1000:.1f} ms; RSS {rss_before} -> {rss_after} KiB "
        f"({per_socket_kib:.1f} KiB per idle socket)"
    )
