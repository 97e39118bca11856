"""Who may open a socket: every refusal, logout, and the token kept out of access logs.

Runs against `python wsgi.py` (SQLite) and `gunicorn -k eventlet -w 1` (PostgreSQL).
"""

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import socketio
from support.rest import Account
from support.servers import LiveServer
from support.sockets import Sockets
from support.tokens import TokenForge

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("realtime")]

Forge = TokenForge

OTHER_KEY = "not-the-server-key-0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize("via", ["auth", "query", "cookie"])
def test_valid_token_connects_from_the_auth_payload_the_query_or_the_cookie(
    server: LiveServer, sockets: Sockets, via: str
) -> None:
    a, b = server.account("a"), server.account("b")
    chat = server.conversation(b, a)
    a_sock = sockets.open(server, a, f"A via {via}", via=via)
    message_id = server.sent(b, chat, f"to the socket opened via {via}")["message"]["id"]
    a_sock.wait_for("message:new", lambda m: m["id"] == message_id)


def test_token_made_with_the_servers_key_connects(server: LiveServer, sockets: Sockets, forge: Forge) -> None:
    """The control of the forgeries below: only the one flaw each has makes them fail."""
    a, b = server.account("a"), server.account("b")
    chat = server.conversation(b, a)
    a_sock = sockets.open(server, None, "A with a home-made token", token=forge.signed(a.id))
    message_id = server.sent(b, chat, "reaches the home-made token's socket")["message"]["id"]
    a_sock.wait_for("message:new", lambda m: m["id"] == message_id)


def tampered(token: str) -> str:
    """The token with the first character of its signature changed (all 6 bits of it count)."""
    header, payload, signature = token.split(".")
    return f"{header}.{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


REFUSALS: dict[str, tuple[Callable[[Forge, Account], dict[str, Any]], str]] = {
    "no token": (lambda forge, user: {}, "unauthorized"),
    "empty token": (lambda forge, user: {"auth": {"token": ""}}, "unauthorized"),
    "garbage": (lambda forge, user: {"token": "garbage"}, "invalid_token"),
    "garbage in the query": (lambda forge, user: {"token": "a.b.c", "via": "query"}, "invalid_token"),
    "garbage in the cookie": (lambda forge, user: {"token": "x.y.z", "via": "cookie"}, "invalid_token"),
    "expired": (lambda forge, user: {"token": forge.signed(user.id, expires_in=-60)}, "token_expired"),
    "wrong key": (lambda forge, user: {"token": forge.signed(user.id, key=OTHER_KEY)}, "invalid_token"),
    "alg none": (lambda forge, user: {"token": forge.unsigned(user.id)}, "invalid_token"),
    "tampered signature": (lambda forge, user: {"token": tampered(user.token)}, "invalid_token"),
    "refresh token": (
        lambda forge, user: {"token": forge.signed(user.id, token_type="refresh")},
        "invalid_token",
    ),
    "unknown user": (lambda forge, user: {"token": forge.signed(str(uuid.uuid4()))}, "invalid_token"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_socket_is_refused(server: LiveServer, sockets: Sockets, forge: Forge, case: str) -> None:
    make, code = REFUSALS[case]
    a = server.account("a")
    refusal = sockets.refusal(server, case, **make(forge, a))
    assert refusal is not None, "no connect_error payload"
    assert code in str(refusal), refusal


def test_connect_error_payload_gives_the_code_and_a_human_message(
    server: LiveServer, sockets: Sockets
) -> None:
    refusal = sockets.refusal(server, "no token")
    assert isinstance(refusal, dict)
    code = refusal.get("code") or (refusal.get("data") or {}).get("code")
    assert code == "unauthorized", refusal
    assert isinstance(refusal.get("message"), str) and "{" not in refusal["message"], refusal


def test_logout_refuses_the_token_and_disconnects_its_open_sockets_only(
    server: LiveServer, sockets: Sockets
) -> None:
    a, b = server.account("a"), server.account("b")
    chat = server.conversation(b, a)
    other_session = server.logged_in(a.username)
    first = sockets.open(server, a, "A, token 1 via auth")
    second = sockets.open(server, a, "A, token 1 via query", via="query")
    kept = sockets.open(server, other_session, "A, token 2")

    response = server.logout(a)
    assert response.status_code == 200, response.text
    for sock in (first, second):
        assert sock.disconnected.wait(5), f"{sock.label} is still connected after logout"

    refusal = sockets.refusal(server, "A, token 1 again", token=a.token)
    assert "token_revoked" in str(refusal), refusal
    assert server.request("GET", "/api/auth/me", headers=a.headers).status_code == 401

    message_id = server.sent(b, chat, "after the logout")["message"]["id"]
    kept.wait_for("message:new", lambda m: m["id"] == message_id)
    assert kept.connected
    assert first.received("message:new") == [] and second.received("message:new") == []


def test_socket_token_never_appears_in_the_servers_log(server: LiveServer, sockets: Sockets) -> None:
    a = server.account("a")
    since = server.log_size()
    websocket = sockets.open(server, a, "A via query", via="query")
    polling = sockets.open(server, a, "A via query, polling", via="query", transports=("polling",))
    websocket.close()
    polling.close()
    revoked = server.logged_in(a.username)
    assert server.logout(revoked).status_code == 200
    sockets.refusal(server, "revoked token via query", token=revoked.token, via="query")
    assert server.request("GET", "/healthz", params={"token": a.token}).status_code == 200

    deadline = time.monotonic() + 5
    while "/healthz?token=[redacted]" not in server.log(since) and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log(since)
    assert "/healthz?token=[redacted]" in log, log
    if server.kind == "eventlet":  # gunicorn's eventlet worker writes no access line for upgrades
        assert "/socket.io/?token=[redacted]&transport=websocket" in log, log
    assert "/socket.io/?token=[redacted]&transport=polling" in log, log
    for token in (a.token, revoked.token):
        assert token not in server.log(), "a token appears in the server's output"
        assert token.split(".")[2] not in server.log(), "a token's signature appears in the server's output"


@pytest.mark.parametrize("via", ["cookie", "auth"])
def test_socket_from_another_origin_is_refused_even_with_a_valid_token(
    server: LiveServer, sockets: Sockets, via: str
) -> None:
    """A page on another site must not open a socket with the web UI's cookie (cross-site hijacking)."""
    a = server.account("a")
    sockets.refusal(
        server, f"A from evil.example via {via}", origin="http://evil.example", token=a.token, via=via
    )
    sockets.open(
        server, a, f"A from the server's origin via {via}", origin=server.url, via=via
    )  # the control


# Each round starts BURST connects spread over ~60 ms and logs the token out ~30 ms in, so that
# some connects are accepted before the logout, some refused after it, and some straddle it.
BURST = 40
BURST_ROUNDS = 6
STAGGER = 0.0015
LOGOUT_AFTER = 0.03


def connect_around_logout(server: LiveServer, sockets: Sockets, who: Account, label: str) -> list[Any]:
    """Connect BURST sockets of `who` while its token is logged out; the sockets the server accepted."""
    burst = [sockets.new(f"{label} socket {i}") for i in range(BURST)]
    barrier = threading.Barrier(BURST + 1, timeout=10)
    accepted: list[Any] = []

    def connect(sock: Any, delay: float) -> None:
        barrier.wait()
        time.sleep(delay)
        with contextlib.suppress(socketio.exceptions.ConnectionError):
            sock.connect(server.url, token=who.token)
            accepted.append(sock)

    threads = [threading.Thread(target=connect, args=(sock, i * STAGGER)) for i, sock in enumerate(burst)]
    for thread in threads:
        thread.start()
    barrier.wait()
    time.sleep(LOGOUT_AFTER)
    assert server.logout(who).status_code == 200
    for thread in threads:
        thread.join(timeout=15)
    assert not any(thread.is_alive() for thread in threads), "a connect attempt hung"
    return accepted


def test_sockets_connecting_while_their_token_is_logged_out_do_not_stay_connected(
    server: LiveServer, sockets: Sockets, request: pytest.FixtureRequest
) -> None:
    """Logout revokes the token for new sockets and disconnects the open ones: none may slip between."""
    for round_ in range(BURST_ROUNDS):
        a, b = server.account("a"), server.account("b")
        chat = server.conversation(b, a)
        accepted = connect_around_logout(server, sockets, a, f"round {round_}")
        deadline = time.monotonic() + 5
        for sock in accepted:
            sock.disconnected.wait(max(0.0, deadline - time.monotonic()))
        lingering = [sock for sock in accepted if not sock.disconnected.is_set()]
        # The python-socketio client drops a DISCONNECT that arrives before its own connect()
        # has returned, so the client's flag alone can lag: what matters is the server. A
        # socket of the revoked token must get none of the user's messages and no answer.
        message_id = server.sent(b, chat, "after the logout")["message"]["id"]
        leaking = []
        for sock in lingering:
            if any(m["id"] == message_id for m in sock.payloads("message:new")):
                leaking.append(sock)
                continue
            with contextlib.suppress(socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
                sock.call("join", {"conversationId": chat}, timeout=1)
                leaking.append(sock)
        if lingering:
            for sock in lingering:
                sock.assert_quiet("message:new", wait=0.5)
        assert not leaking, (
            f"round {round_}: {len(leaking)} of {len(accepted)} sockets accepted around the logout are "
            "still served with the revoked token"
        )
