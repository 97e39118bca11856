"""Commit order: concurrent senders, a client that drops its socket at random and catches up.

A conversation's messages carry `seq`, their position in commit order. A client that
holds everything up to seq n and sees n+2 fetches what came after n; one that comes
back after a dropped socket fetches `after=` the newest it holds. Either way it ends
with every message exactly once, in order, whatever order the sends committed and
their events arrived in.
"""

import random
import threading
import time
from typing import Any

import pytest
from support.rest import Account
from support.servers import LiveServer
from support.sockets import Sockets

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("realtime")]

THREADS_PER_USER = 3
SENDS_PER_THREAD = 10


class CatchingUpClient:
    """What the web UI does: merge live messages by seq, fill gaps, catch up after a drop."""

    def __init__(self, server: LiveServer, who: Account, conversation_id: str) -> None:
        self.server, self.who, self.conversation_id = server, who, conversation_id
        self.by_seq: dict[int, str] = {}
        self.gap_fills = 0

    @property
    def newest(self) -> int:
        return max(self.by_seq, default=0)

    def take(self, message: dict[str, Any]) -> None:
        """A message seen live or in a page: known once, under its seq."""
        known = self.by_seq.setdefault(message["seq"], message["id"])
        assert known == message["id"], f"two messages with seq {message['seq']}"

    def arrived(self, message: dict[str, Any]) -> None:
        if message["conversationId"] != self.conversation_id:
            return
        if message["seq"] > self.newest + 1:
            self.gap_fills += 1
            self.catch_up()
        self.take(message)
        self.assert_nothing_missing()

    def catch_up(self) -> None:
        """Every message after the newest one held, page by page."""
        while True:
            params: dict[str, Any] = {"limit": 100}
            if self.by_seq:
                params["after"] = self.by_seq[self.newest]
            response = self.server.messages(self.who, self.conversation_id, **params)
            assert response.status_code == 200, response.text
            page = response.json()
            seqs = [m["seq"] for m in page["messages"]]
            assert seqs == sorted(seqs), "a page out of commit order"
            for message in page["messages"]:
                self.take(message)
            if not page["hasMore"] or not page["messages"]:
                break
        self.assert_nothing_missing()

    def assert_nothing_missing(self) -> None:
        assert sorted(self.by_seq) == list(range(1, self.newest + 1)), "a message was skipped"


def test_concurrent_senders_and_a_dropping_client_end_with_every_message_once_in_order(
    server: LiveServer, sockets: Sockets
) -> None:
    a, b = server.account("a"), server.account("b")
    chat = server.conversation(a, b)
    for who in (a, b):
        server.grant(who, 10_000)
    sent: dict[str, list[int]] = {}  # thread -> the seqs its sends got, in the order sent
    ids: set[str] = set()
    lock = threading.Lock()
    done = threading.Event()

    def send_all(who: Account, name: str) -> None:
        mine = []
        for n in range(SENDS_PER_THREAD):
            message = server.sent(who, chat, f"{name} #{n}")["message"]
            mine.append(message["seq"])
            with lock:
                ids.add(message["id"])
        sent[name] = mine

    senders = [
        threading.Thread(target=send_all, args=(who, f"{label}{t}"))
        for who, label in ((a, "a"), (b, "b"))
        for t in range(THREADS_PER_USER)
    ]
    client = CatchingUpClient(server, b, chat)
    rng = random.Random(20261129)
    drops = 0

    def read_until_done() -> None:
        nonlocal drops
        while True:
            finished = done.is_set()
            sock = sockets.open(server, b, f"B drop {drops}")
            client.catch_up()  # what came while the socket was down
            deadline = time.monotonic() + rng.uniform(0.05, 0.4)
            seen = 0
            while time.monotonic() < deadline:
                events = sock.payloads("message:new")
                for message in events[seen:]:
                    client.arrived(message)
                seen = len(events)
                time.sleep(0.01)
            sock.close()
            drops += 1
            if finished:
                return

    reader = threading.Thread(target=read_until_done)
    reader.start()
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(timeout=120)
    done.set()
    reader.join(timeout=60)
    assert not reader.is_alive()
    client.catch_up()

    total = 2 * THREADS_PER_USER * SENDS_PER_THREAD
    assert len(ids) == total
    assert sorted(client.by_seq) == list(range(1, total + 1))
    assert set(client.by_seq.values()) == ids
    for name, seqs in sent.items():  # a send answered before the next began committed before it
        assert seqs == sorted(seqs), f"{name}: {seqs}"
    everything = server.all_messages(a, chat)
    assert [m["seq"] for m in everything] == list(range(1, total + 1))
    assert drops >= 2
