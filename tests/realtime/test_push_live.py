"""Web Push from real servers (eventlet green threads, gunicorn, Redis), to a push
service on loopback that verifies the VAPID token and decrypts each push."""

import statistics
import time
from typing import Any

import jwt
import pytest
from support.push_service import FakePushService
from support.servers import LiveServer
from support.settings import TEST_VAPID_PUBLIC_KEY
from support.sockets import Sockets

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("realtime")]

ServerPair = Any  # conftest.ServerPair
TIMED_SENDS = 8


def subscribe(server: LiveServer, who: Any, browser: Any) -> None:
    response = server.request("POST", "/api/push/subscriptions", json=browser.as_json(), headers=who.headers)
    assert response.status_code == 201, response.text


def timed_send(server: LiveServer, who: Any, chat: str, content: str) -> float:
    started = time.perf_counter()
    response = server.send(who, chat, content)
    took = time.perf_counter() - started
    assert response.status_code == 201, response.text
    return took


def test_a_hanging_push_service_does_not_slow_the_send(server: LiveServer) -> None:
    with FakePushService(TEST_VAPID_PUBLIC_KEY) as service:
        a, b, c = server.account("a"), server.account("b"), server.account("c")
        to_b, to_c = server.conversation(a, b), server.conversation(a, c)
        working = service.subscribe()
        subscribe(server, b, working)
        first = server.sent(a, to_b, "pushed by a green thread")["message"]
        [delivery] = service.wait_for(1)
        assert delivery.problem is None and delivery.payload["messageId"] == first["id"]

        working.mode = "hang"  # from now on the push service answers nothing for 30 s
        timed_send(server, a, to_c, "warm up")
        pushed, unpushed = [], []
        for n in range(TIMED_SENDS):
            pushed.append(timed_send(server, a, to_b, f"push hangs {n}"))
            unpushed.append(timed_send(server, a, to_c, f"no push {n}"))
        arrived = service.wait_for(1 + TIMED_SENDS)
        assert all(d.problem is None for d in arrived), "every push reached the service and hangs there"
        assert statistics.median(pushed) < 2 * statistics.median(unpushed) + 0.05, (pushed, unpushed)
        assert max(pushed) < 2.0, pushed
    server.assert_alive()


def _token_id(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def _socket_count(pair: ServerPair, token: str) -> int:
    return sum(
        pair.redis.scard(key) for key in pair.redis.scan_iter(match=f"*socket-token:{_token_id(token)}")
    )


def test_no_push_while_a_socket_is_open_on_the_other_process(
    server_pair: ServerPair, sockets: Sockets
) -> None:
    p1, p2 = server_pair.first, server_pair.second
    with FakePushService(TEST_VAPID_PUBLIC_KEY) as service:
        a, b, c = p1.account("a"), p1.account("b"), p1.account("c")
        chat, control = p1.conversation(a, b), p1.conversation(a, c)
        subscribe(p1, b, service.subscribe())
        subscribe(p1, c, service.subscribe())
        b_on_2 = sockets.open(p2, b, "B on process 2")
        while_online = p1.sent(a, chat, "b has a socket on process 2")["message"]
        b_on_2.wait_for("message:new", lambda m: m["id"] == while_online["id"])
        # Pushes start a moment after the send answers: C's push, sent after B's message by
        # the same process, arrives only once B's was decided (while B was still online).
        to_c = p1.sent(a, control, "c is offline")["message"]
        assert service.wait_for(1)[0].payload["messageId"] == to_c["id"]
        b_on_2.close()
        deadline = time.monotonic() + 10
        while _socket_count(server_pair, b.token):  # process 2 forgets the socket
            assert time.monotonic() < deadline, "the registry still lists B's socket"
            time.sleep(0.05)
        while_offline = p1.sent(a, chat, "b closed the tab")["message"]
        second = service.wait_for(2)[1]
        assert second.payload["messageId"] == while_offline["id"]
        assert [d.payload["messageId"] for d in service.deliveries] == [to_c["id"], while_offline["id"]], (
            "no push for the message B saw live"
        )


def test_concurrent_subscriptions_of_one_browser_store_it_once(server: LiveServer) -> None:
    """A page reloaded while it subscribes: the same endpoint posted at once, many times."""
    from concurrent.futures import ThreadPoolExecutor

    import requests
    import sqlalchemy as sa

    with FakePushService(TEST_VAPID_PUBLIC_KEY) as service:
        b = server.account("b")
        browser = service.subscribe()

        def post(_: int) -> int:
            url = f"{server.url}/api/push/subscriptions"
            return requests.post(url, json=browser.as_json(), headers=b.headers, timeout=20).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(post, range(8)))
        assert sorted(statuses) == [200] * 7 + [201], statuses
        count = sa.text("SELECT count(*) FROM push_subscriptions WHERE endpoint = :endpoint")
        with server.engine.connect() as connection:
            assert connection.execute(count, {"endpoint": browser.endpoint}).scalar() == 1


@pytest.mark.parametrize("kind", ["gunicorn", "eventlet"])
def test_a_graceful_stop_lets_the_pushes_in_flight_finish(kind: str, tmp_path: Any, request: Any) -> None:
    """A push the service answers 410 a second later, while the server stops: the answer
    still deletes the subscription (the worker waited for it before exiting)."""
    import sqlalchemy as sa
    from support.servers import Launcher

    database_url = (
        request.getfixturevalue("pg_databases").create("push_stop")
        if kind == "gunicorn"
        else f"sqlite:///{tmp_path / 'push.db'}"
    )
    launcher = Launcher(tmp_path)
    try:
        server = launcher.start(launcher.environment(database_url), kind, kind=kind)
        with FakePushService(TEST_VAPID_PUBLIC_KEY) as service:
            service.hang_seconds = 1.5
            a, b = server.account("a"), server.account("b")
            chat = server.conversation(a, b)
            subscribe(server, b, service.subscribe("slow_gone"))
            server.sent(a, chat, "the server stops while this is pushed")
            service.wait_for(1)  # the push is at the service, which answers 410 in 1.5 s
            rows = sa.text("SELECT count(*) FROM push_subscriptions")
            engine = sa.create_engine(database_url)
            server.stop()
            with engine.connect() as connection:
                assert connection.execute(rows).scalar() == 0, "the 410 came after the stop began"
            engine.dispose()
    finally:
        launcher.stop_all()
