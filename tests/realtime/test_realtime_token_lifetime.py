"""A socket lives no longer than its token: logging out from the page disconnects every
socket of the cookie's token (on every process), and a socket whose token expired is
disconnected the next time something is delivered to it or it sends an event.

Runs against `python wsgi.py` (SQLite), `gunicorn -k eventlet -w 1` (PostgreSQL) and a
pair of gunicorn processes on one Redis (see conftest.py).
"""

import time
from typing import Any

import jwt
import pytest
import requests
from support.forms import csrf_from
from support.rest import Account
from support.servers import LiveServer
from support.sockets import Sock, Sockets
from support.tokens import TokenForge

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("realtime")]

ServerPair = Any  # conftest.ServerPair
SHORT_LIFETIME = 3  # seconds a forged token lives: enough to connect and get one message


def browser_login(server: LiveServer, who: Account) -> requests.Session:
    """A browser session logged in through the login form: its cookies hold the token."""
    browser = requests.Session()
    page = browser.get(server.url + "/login", timeout=10)
    form = {"username": who.username, "password": who.password, "csrf_token": csrf_from(page.text)}
    response = browser.post(server.url + "/login", data=form, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    assert browser.cookies.get("access_token_cookie")
    return browser


def browser_logout(server: LiveServer, browser: requests.Session) -> None:
    """Press the page's "Log out" button (its form carries the CSRF token)."""
    page = browser.get(server.url + "/", timeout=10)
    assert page.status_code == 200, "the browser is not logged in"
    response = browser.post(
        server.url + "/logout", data={"csrf_token": csrf_from(page.text)}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 302, response.text
    assert response.headers["Location"].endswith("/login")


def rest_status(server: LiveServer, token: str) -> int:
    """The status of GET /api/auth/me with this token."""
    return server.request("GET", "/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def assert_gone(*socks: Sock) -> None:
    """Each socket was disconnected by the server within a few seconds."""
    for sock in socks:
        assert sock.disconnected.wait(5), f"{sock.label} is still connected"


# -- item 4: web logout ---------------------------------------------------------------------


def test_web_logout_disconnects_every_tab_of_the_cookie_token(server: LiveServer, sockets: Sockets) -> None:
    a, b = server.account("a"), server.account("b")
    chat = server.conversation(b, a)
    browser = browser_login(server, a)
    token = browser.cookies["access_token_cookie"]
    tabs = [sockets.open(server, token, f"A's tab {n}", via="cookie") for n in (1, 2)]
    kept = sockets.open(server, a, "A's other session (API token)")
    before = server.sent(b, chat, "before the logout")["message"]["id"]
    for tab in tabs:
        tab.wait_for("message:new", lambda m: m["id"] == before)

    browser_logout(server, browser)
    assert_gone(*tabs)
    assert rest_status(server, token) == 401
    assert "token_revoked" in str(sockets.refusal(server, "A's tab again", token=token, via="cookie"))

    after = server.sent(b, chat, "after the logout")["message"]["id"]
    kept.wait_for("message:new", lambda m: m["id"] == after)
    for tab in tabs:
        assert [m["id"] for m in tab.payloads("message:new")] == [before], tab.label


def test_web_logout_on_one_process_disconnects_the_tabs_on_the_other(
    server_pair: ServerPair, sockets: Sockets
) -> None:
    p1, p2 = server_pair.first, server_pair.second
    a = p1.account("a")
    browser = browser_login(p1, a)
    token = browser.cookies["access_token_cookie"]
    on_1 = sockets.open(p1, token, "A's tab on process 1", via="cookie")
    on_2 = sockets.open(p2, token, "A's tab on process 2", via="cookie")
    browser_logout(p1, browser)
    assert_gone(on_1, on_2)
    assert "token_revoked" in str(sockets.refusal(p2, "A's tab again on 2", token=token, via="cookie"))


# -- item 5: a socket outlives its token ----------------------------------------------------


def short_lived_socket(
    rest: LiveServer, on: LiveServer, sockets: Sockets
) -> tuple[Account, Account, str, Sock, str]:
    """A and B (registered through `rest`), their chat, and a socket of A on `on` opened
    with a token that expires in SHORT_LIFETIME seconds, and that token."""
    a, b = rest.account("a"), rest.account("b")
    chat = rest.conversation(b, a)
    token = TokenForge.signed(a.id, expires_in=SHORT_LIFETIME)
    return a, b, chat, sockets.open(on, token, f"A on {on.label}, token about to expire"), token


def wait_until_expired(token: str) -> None:
    """Sleep until the token's `exp` has passed (the one wait these tests cannot avoid)."""
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, exp + 1.05 - time.time()))


def test_a_socket_whose_token_expired_gets_no_message_and_is_disconnected(
    server: LiveServer, sockets: Sockets
) -> None:
    a, b, chat, sock, token = short_lived_socket(server, server, sockets)
    kept = sockets.open(server, a, "A, token still valid")
    early = server.sent(b, chat, "while the token is valid")["message"]["id"]
    sock.wait_for("message:new", lambda m: m["id"] == early)

    wait_until_expired(token)
    assert rest_status(server, token) == 401
    late = server.sent(b, chat, "after the token expired")["message"]["id"]
    kept.wait_for("message:new", lambda m: m["id"] == late)
    assert_gone(sock)
    assert [m["id"] for m in sock.payloads("message:new")] == [early]
    assert kept.connected


def test_a_socket_whose_token_expired_is_disconnected_when_it_sends_an_event(
    server: LiveServer, sockets: Sockets
) -> None:
    _, _, chat, sock, token = short_lived_socket(server, server, sockets)
    assert sock.call("join", {"conversationId": chat}) == {"ok": True, "typing": []}
    wait_until_expired(token)
    sock.emit("typing", {"conversationId": chat, "isTyping": True})
    assert_gone(sock)


def test_an_expired_tokens_socket_on_one_process_gets_nothing_sent_through_the_other(
    server_pair: ServerPair, sockets: Sockets
) -> None:
    p1, p2 = server_pair.first, server_pair.second
    a, b, chat, sock, token = short_lived_socket(p1, p2, sockets)
    kept = sockets.open(p2, a, "A on process 2, token still valid")
    wait_until_expired(token)
    late = p1.sent(b, chat, "after the token expired")["message"]["id"]
    kept.wait_for("message:new", lambda m: m["id"] == late)
    assert_gone(sock)
    assert sock.payloads("message:new") == []
