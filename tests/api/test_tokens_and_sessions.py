"""Tokens and browser sessions: required claims, web logout, cookie lifetime, caching, `next`."""

import re
import time
import uuid
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from support.forms import csrf_from
from support.settings import PASSWORD

from app.extensions import socketio
from app.services import sending


def web_login(client: Any, username: str = "alice", next_path: str | None = None) -> Any:
    """Log in through the form; the response of the POST."""
    page = client.get("/login").get_data(as_text=True)
    path = "/login" if next_path is None else f"/login?next={next_path}"
    return client.post(path, data={"username": username, "password": PASSWORD, "csrf_token": csrf_from(page)})


def forged(app: Any, user_id: str, drop: tuple[str, ...] = (), **changes: Any) -> str:
    """A token as the server issues it, signed with its key, without the `drop` claims."""
    now = int(time.time())
    claims = {"fresh": False, "iat": now, "jti": str(uuid.uuid4()), "type": "access", "sub": user_id}
    claims |= {"nbf": now, "exp": now + 3600, **changes}
    return jwt.encode({k: v for k, v in claims.items() if k not in drop}, app.config["JWT_SECRET"], "HS256")


# -- item 6: exp, jti and sub are required ---------------------------------------------------

CLAIM_FLAWS = {
    "no exp": {"drop": ("exp",)},
    "no jti": {"drop": ("jti",)},
    "empty jti": {"jti": ""},
    "NUL in jti": {"jti": "abc\x00def"},
    "jti not a string": {"jti": 12345},
    "no sub": {"drop": ("sub",)},
}


@pytest.mark.parametrize("flaw", list(CLAIM_FLAWS))
def test_rest_refuses_a_signed_token_without_a_required_claim(app, api, alice, flaw):
    token = forged(app, alice.id, **CLAIM_FLAWS[flaw])
    response = api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "unauthorized"
    control = forged(app, alice.id)
    assert api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {control}"}).status_code == 200


@pytest.mark.parametrize("flaw", list(CLAIM_FLAWS))
def test_socket_connect_refuses_a_signed_token_without_a_required_claim(app, client, alice, flaw):
    token = forged(app, alice.id, **CLAIM_FLAWS[flaw])
    refused = socketio.test_client(app, auth={"token": token}, flask_test_client=client)
    assert not refused.is_connected()
    control = socketio.test_client(app, auth={"token": forged(app, alice.id)}, flask_test_client=client)
    assert control.is_connected()
    control.disconnect()


@pytest.mark.parametrize("flaw", ["no exp", "no jti", "NUL in jti"])
def test_pages_treat_a_cookie_without_a_required_claim_as_logged_out(app, client, alice, flaw):
    client.set_cookie("access_token_cookie", forged(app, alice.id, **CLAIM_FLAWS[flaw]))
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# -- item 4: logging out from the page revokes the cookie's token ---------------------------


def test_web_logout_revokes_the_cookie_token_for_the_api_and_new_sockets(app, client, api, alice):
    assert web_login(client).status_code == 302
    token = client.get_cookie("access_token_cookie").value
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/auth/me", headers=bearer).status_code == 200
    page = client.get("/").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_from(page)}).status_code == 302

    client.delete_cookie("access_token_cookie")
    response = api.client.get("/api/auth/me", headers=bearer)
    assert response.status_code == 401 and "revoked" in response.json["error"]["message"]
    socket = socketio.test_client(app, auth={"token": token}, flask_test_client=client)
    assert not socket.is_connected()


def test_web_logout_disconnects_the_cookie_tokens_sockets(app, client, alice):
    assert web_login(client).status_code == 302
    token = client.get_cookie("access_token_cookie").value
    tabs = [socketio.test_client(app, auth={"token": token}, flask_test_client=client) for _ in range(2)]
    assert all(tab.is_connected() for tab in tabs)
    page = client.get("/").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_from(page)}).status_code == 302
    assert not any(tab.is_connected() for tab in tabs)


# -- item 5: a socket lives no longer than its token (real servers: tests/realtime) ---------


def test_a_socket_whose_token_expired_gets_nothing_and_is_disconnected(clock, app, client, api, alice, bob):
    chat = api.conversation(alice, bob)
    short = socketio.test_client(app, auth={"token": forged(app, alice.id, exp=int(time.time()) + 60)})
    kept = socketio.test_client(app, auth={"token": alice.token}, flask_test_client=client)
    api.send(bob, chat, "while the token is valid")
    assert [e["name"] for e in short.get_received()] == ["message:new"]

    clock.shift(61)
    api.send(bob, chat, "after it expired")
    assert not short.is_connected()
    assert [e["name"] for e in kept.get_received()] == ["message:new", "message:new"]


def test_a_socket_whose_token_expired_is_disconnected_when_it_sends_an_event(clock, app, api, alice, bob):
    chat = api.conversation(alice, bob)
    short = socketio.test_client(app, auth={"token": forged(app, alice.id, exp=int(time.time()) + 60)})
    assert short.emit("join", {"conversationId": chat}, callback=True) == {"ok": True, "typing": []}
    clock.shift(61)
    refused = short.emit("join", {"conversationId": chat}, callback=True)
    assert refused["error"]["code"] == "unauthorized"
    assert not short.is_connected()


# -- item 7: cookie lifetime and caching -----------------------------------------------------


def max_age_of(response: Any, name: str) -> int:
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}="))
    return int(re.search(r"Max-Age=(\d+)", cookie).group(1))


def test_login_cookies_live_as_long_as_the_token(app, client, alice):
    response = web_login(client)
    lifetime = int(app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())
    assert max_age_of(response, "access_token_cookie") == lifetime
    assert max_age_of(response, "csrf_access_token") == lifetime


def test_authenticated_pages_and_api_json_are_not_stored(client, api, alice, chat):
    assert web_login(client).status_code == 302
    answers = {
        "page /": client.get("/"),
        f"page /c/{chat}": client.get(f"/c/{chat}"),
        "GET /api/auth/me": api.client.get("/api/auth/me", headers=alice.headers),
        "GET /api/conversations": api.conversations(alice),
        "GET /api/messages": api.messages(alice, chat),
        "POST /api/messages/send": api.send(alice, chat, "hi"),
        "401": api.client.get("/api/auth/me"),
    }
    for name, response in answers.items():
        assert response.headers.get("Cache-Control") == "no-store", name
    with client.get("/vendor/socket.io.esm.min.js") as asset:
        assert "no-store" not in asset.headers.get("Cache-Control", "")


# -- item 13: `next` after login -------------------------------------------------------------

NEXT_TARGETS = {
    "tab between slashes": ("%2F%09%2Fevil.com", "/"),
    "newline between slashes": ("%2F%0A%2Fevil.com", "/"),
    "CR LF in a path": ("%2Fc%2Fabc%0D%0ASet-Cookie:%20x=1", "/c/abcSet-Cookie:%20x=1"),
    "leading space": ("%20//evil.com", "/"),
    "backslash": ("/%5Cevil.com", "/"),
    "scheme": ("https://evil.com/", "/"),
    "a same-site path": ("/c/abc%3Fx%3D1", "/c/abc?x=1"),
}


@pytest.mark.parametrize("case", list(NEXT_TARGETS))
def test_next_after_login_is_a_same_site_path_without_control_characters(client, alice, case):
    target, expected = NEXT_TARGETS[case]
    response = web_login(client, next_path=target)
    assert response.status_code == 302
    assert response.headers["Location"] == expected


# -- item 18: Retry-After only on 429 and 503 -----------------------------------------------


def test_retry_after_is_only_on_429_and_503_each_with_its_own_value(app, api, alice, chat, monkeypatch):
    app.config["SEND_RATE_LIMIT"] = "3 per minute"
    sent = api.send(alice, chat, "hello")
    missing = api.send(alice, str(uuid.uuid4()), "to nowhere")
    assert (sent.status_code, missing.status_code) == (201, 404)
    assert "Retry-After" not in sent.headers and "Retry-After" not in missing.headers

    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise sa.exc.OperationalError("SELECT 1", {}, ConnectionError("the database is down"))

    monkeypatch.setattr(sending, "send_message", unreachable)
    down = api.send(alice, chat, "while the database is down")
    assert down.status_code == 503 and down.headers["Retry-After"] == "5"
    monkeypatch.undo()

    limited = api.send(alice, chat, "one too many")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json["error"]["retryAfter"] == int(limited.headers["Retry-After"])
