"""Attacks on a running server: object-level authorization, mass assignment, forged and dead
tokens, password storage, login throttling and cross-origin socket handshakes.

The server is gunicorn -k eventlet in production mode with the production password
hashing settings (no PASSWORD_HASH_* overrides), rate limits on, on a fresh PostgreSQL
database. Every refused attack must also change nothing: the database is compared before
and after, and sockets of every participant are watched for events that must not come.
"""

import re
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests
import websocket
from attack_support import Server, assert_error_shape, iso_now
from support.push_service import BrowserSubscription
from support.rest import Account, unique_name
from support.settings import PASSWORD
from support.settings import TEST_JWT_SECRET as JWT_SECRET
from support.tokens import forge_token, unsigned_token, with_payload
from support.uploads import image_bytes

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("attack")]


@pytest.fixture(scope="module")
def secure(module_launcher: Any) -> dict[str, Any]:
    """The production-hashing server with alice, bob (their chat, 3 messages) and carol (an outsider)."""
    env = module_launcher.environment("security", production_hashing=True, RATELIMIT_ENABLED="true")
    assert "PASSWORD_HASH_TIME_COST" not in env and "PASSWORD_HASH_MEMORY_KIB" not in env
    server = module_launcher.start(env, "security")
    alice, bob, carol = server.account("alice"), server.account("bob"), server.account("carol")
    chat = server.conversation(alice, bob)
    carols_chat = server.conversation(carol, bob)
    messages = [
        server.sent(alice, chat, "for bob's eyes only", clientMessageId="alice-1")["message"],
        server.sent(alice, chat, "second", clientMessageId="alice-2")["message"],
        server.sent(bob, chat, "reply")["message"],
    ]
    server.sent(carol, carols_chat, "carol to bob")
    picture = server.request(
        "POST",
        "/api/attachments",
        files={"file": ("picture.png", image_bytes("PNG"), "image/png")},
        headers=alice.headers,
    )
    assert picture.status_code == 201, picture.text
    return {
        "picture": picture.json()["attachment"]["id"],
        "server": server,
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "chat": chat,
        "carols_chat": carols_chat,
        "messages": messages,
    }


@pytest.fixture(autouse=True)
def books_balance_after_each_test(request: pytest.FixtureRequest) -> Any:
    yield
    if "secure" in request.fixturenames:
        request.getfixturevalue("secure")["server"].books.check()


# --------------------------------------------------------------------------- password storage

OWASP_ARGON2ID = [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)]  # (m KiB, t) minimums, p=1
ARGON2_HASH = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$")


def test_stored_password_hash_is_argon2id_at_or_above_the_owasp_minimum(secure: dict[str, Any]) -> None:
    server, alice, bob = secure["server"], secure["alice"], secure["bob"]
    hashes = {
        row.id: row.password_hash
        for row in server.books.rows("SELECT CAST(id AS text) AS id, password_hash FROM users")
    }
    match = ARGON2_HASH.match(hashes[alice.id])
    assert match, f"not an argon2id v19 hash: {hashes[alice.id][:40]}..."
    memory, time_cost, parallelism = (int(g) for g in match.group(1, 2, 3))
    assert any(memory >= m and time_cost >= t for m, t in OWASP_ARGON2ID), (memory, time_cost)
    assert parallelism >= 1
    salt, digest = (len(g) * 3 // 4 for g in match.group(4, 5))  # unpadded base64 lengths
    assert salt >= 16 and digest >= 32, (salt, digest)
    # the same password, salted per user: no two hashes alike
    assert hashes[alice.id] != hashes[bob.id]
    assert PASSWORD not in hashes[alice.id]


def login_answer(server: Server, username: str, password: str) -> tuple[int, Any, set[str], float]:
    started = time.perf_counter()
    response = server.fresh_request(
        "POST", "/api/auth/login", json={"username": username, "password": password}
    )
    elapsed = time.perf_counter() - started
    headers = {h.lower() for h in response.headers} - {"date"}
    return response.status_code, response.json(), headers, elapsed


def test_unknown_user_and_wrong_password_answer_identically_in_body_headers_and_time(
    secure: dict[str, Any],
) -> None:
    server = secure["server"]
    victim = server.account("victim")
    wrong, unknown = [], []
    for _ in range(4):  # interleaved, so load on the machine hits both alike; 4 < the username limit
        wrong.append(login_answer(server, victim.username, "not-the-password"))
        unknown.append(login_answer(server, unique_name("nobody"), "not-the-password"))
    answers = {(status, repr(body), tuple(sorted(headers))) for status, body, headers, _ in wrong + unknown}
    assert len(answers) == 1, answers
    status, body, _, _ = wrong[0]
    assert status == 401 and body["error"]["code"] == "invalid_credentials"
    wrong_time = statistics.median(a[3] for a in wrong)
    unknown_time = statistics.median(a[3] for a in unknown)
    # both verify an argon2id hash of the production cost: neither answers early
    assert min(wrong_time, unknown_time) > 0.03, (wrong_time, unknown_time)
    assert max(wrong_time, unknown_time) / min(wrong_time, unknown_time) < 2.0, (wrong_time, unknown_time)


# --------------------------------------------------------------------------- login throttling


@pytest.mark.budget(60)
def test_failed_logins_are_throttled_per_username_and_per_address_and_x_forwarded_for_is_not_trusted(
    launcher: Any,
) -> None:
    """Defaults: 5 failures per username, 50 per address, in 15 minutes (cheap hashing: 100 logins)."""
    server = launcher.start(launcher.environment("throttle", RATELIMIT_ENABLED="true"), "throttle")
    dave, victim = server.account("dave"), server.account("victim")

    for _ in range(30):  # successful logins from an address that is not throttled are never refused
        assert server.login(dave.username).status_code == 200

    def spoofed(n: int) -> dict[str, str]:
        return {"X-Forwarded-For": f"10.0.{n // 250}.{n % 250 + 1}", "X-Real-IP": f"10.1.0.{n % 250 + 1}"}

    # one username "from many addresses": the per-username limit holds whatever the client claims
    failures = [server.login(victim.username, "wrong", headers=spoofed(n)) for n in range(5)]
    assert [f.status_code for f in failures] == [401] * 5
    for variant in (victim.username, victim.username.upper(), victim.username.capitalize()):
        refused = server.login(variant, PASSWORD, headers=spoofed(99))
        body = assert_error_shape(refused, 429, "rate_limited")
        assert 0 < int(refused.headers["Retry-After"]) <= 900 and body["error"]["retryAfter"] > 0
    assert server.login(dave.username).status_code == 200  # another username from the same address

    # many usernames from one address: 45 more failures reach the address limit of 50
    failures = [server.login(unique_name("guess"), "wrong", headers=spoofed(n)) for n in range(45)]
    assert [f.status_code for f in failures] == [401] * 45
    for username, password in ((unique_name("guess"), "wrong"), (dave.username, PASSWORD)):
        refused = server.login(username, password, headers=spoofed(7))
        assert_error_shape(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) > 0
    server.assert_clean_log()


# --------------------------------------------------------------------------- tokens

OTHER_KEY = "not-the-servers-key-0123456789abcdefghijklmnop"


def protected_calls(ctx: dict[str, Any]) -> dict[str, Callable[[dict[str, str]], requests.Response]]:
    """One request per protected endpoint, each of which succeeds with a valid token."""
    server, chat, bob, picture = ctx["server"], ctx["chat"], ctx["bob"], ctx["picture"]
    browser = BrowserSubscription.at("https://push.example.com/send/attack")

    def post(path: str, body: dict[str, Any] | None) -> Callable[[dict[str, str]], requests.Response]:
        return lambda headers: server.request("POST", path, json=body, headers=headers)

    def get(path: str, params: dict[str, Any] | None = None) -> Callable[[dict[str, str]], requests.Response]:
        return lambda headers: server.request("GET", path, params=params, headers=headers)

    def patch(path: str, body: dict[str, Any]) -> Callable[[dict[str, str]], requests.Response]:
        return lambda headers: server.request("PATCH", path, json=body, headers=headers)

    def upload(headers: dict[str, str]) -> requests.Response:
        files = {"file": ("again.png", image_bytes("PNG"), "image/png")}
        return server.request("POST", "/api/attachments", files=files, headers=headers)

    return {
        "POST /api/auth/logout": post("/api/auth/logout", None),
        "GET /api/auth/me": get("/api/auth/me"),
        "GET /api/users": get("/api/users", {"q": "b"}),
        "POST /api/conversations/create": post("/api/conversations/create", {"receiverId": bob.id}),
        "GET /api/conversations": get("/api/conversations"),
        "GET /api/messages": get("/api/messages", {"conversationId": chat}),
        "POST /api/messages/send": post("/api/messages/send", {"conversationId": chat, "content": "valid"}),
        "POST /api/messages/read": post("/api/messages/read", {"conversationId": chat}),
        "GET /api/messages/quota": get("/api/messages/quota"),
        "GET /api/search": get("/api/search", {"q": "eyes"}),
        "PATCH /api/conversations/{conversation_id}": patch(f"/api/conversations/{chat}", {"muted": False}),
        "PATCH /api/auth/me": patch("/api/auth/me", {"displayName": ctx["alice"].username}),  # unchanged
        # A wrong current password: a valid token gets as far as 403 wrong_password and
        # nothing changes (a success would revoke the user's other tokens under the other tests).
        "POST /api/auth/password": post(
            "/api/auth/password", {"currentPassword": "not-the-password", "newPassword": PASSWORD}
        ),
        "POST /api/attachments": upload,
        "GET /api/attachments/{attachment_id}": get(f"/api/attachments/{picture}"),
        "GET /api/attachments/{attachment_id}/thumbnail": get(f"/api/attachments/{picture}/thumbnail"),
        "GET /api/push/key": get("/api/push/key"),
        "POST /api/push/subscriptions": post("/api/push/subscriptions", browser.as_json()),
        "DELETE /api/push/subscriptions": lambda headers: server.request(
            "DELETE", "/api/push/subscriptions", json={"endpoint": browser.endpoint}, headers=headers
        ),
    }


def test_every_attacked_call_succeeds_with_a_valid_token(secure: dict[str, Any]) -> None:
    """The control of the token attacks below: only the token makes them fail."""
    server, alice = secure["server"], secure["alice"]
    for name, call in protected_calls(secure).items():
        token = server.logged_in(alice.username).token if "logout" in name else alice.token
        response = call({"Authorization": f"Bearer {token}"})
        if name == "POST /api/auth/password":  # the token passed; the password did not
            assert response.status_code == 403 and response.json()["error"]["code"] == "wrong_password"
            continue
        assert response.status_code in (200, 201, 204), (name, response.status_code, response.text)


def test_every_protected_operation_of_the_openapi_document_is_attacked(secure: dict[str, Any]) -> None:
    document = secure["server"].request("GET", "/api/openapi.json").json()
    protected = {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    assert protected == set(protected_calls(secure)), protected ^ set(protected_calls(secure))


def bad_token(kind: str, ctx: dict[str, Any]) -> str:
    """A token an attacker could hold: forged, tampered, expired, revoked, or of a deleted account."""
    server, alice, bob = ctx["server"], ctx["alice"], ctx["bob"]
    if kind == "alg none":
        return unsigned_token(alice.id)
    if kind == "wrong key":
        return forge_token(alice.id, key=OTHER_KEY)
    if kind == "HS512 with the right key":
        return forge_token(alice.id, algorithm="HS512")
    if kind == "expired":
        return forge_token(alice.id, expires_in=-30)
    if kind == "not yet valid":
        return forge_token(alice.id, nbf=int(time.time()) + 3600, iat=int(time.time()) + 3600)
    if kind == "refresh token":
        return forge_token(alice.id, token_type="refresh")
    if kind == "tampered payload (sub = bob)":
        return with_payload(alice.token, sub=bob.id)
    if kind == "tampered payload (exp extended)":
        return with_payload(alice.token, exp=int(time.time()) + 10 * 365 * 86400)
    if kind == "revoked":
        token = server.logged_in(alice.username).token
        assert server.request("POST", "/api/auth/logout", headers={"Authorization": f"Bearer {token}"}).ok
        return token
    if kind == "deleted user":
        ghost = server.account("ghost")
        server.books.engine.dispose()
        with server.books.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM users WHERE id = %(id)s", {"id": ghost.id})
        return ghost.token
    raise AssertionError(kind)


TOKEN_ATTACKS = [
    "alg none",
    "wrong key",
    "HS512 with the right key",
    "expired",
    "not yet valid",
    "refresh token",
    "tampered payload (sub = bob)",
    "tampered payload (exp extended)",
    "revoked",
    "deleted user",
]


@pytest.mark.parametrize("kind", TOKEN_ATTACKS)
def test_bad_token_is_refused_by_every_endpoint_and_the_socket_and_changes_nothing(
    secure: dict[str, Any], sockets: Any, kind: str
) -> None:
    server = secure["server"]
    token = bad_token(kind, secure)
    if kind not in ("alg none", "tampered payload (sub = bob)", "tampered payload (exp extended)"):
        jwt.decode(  # the forgeries differ from a good token only by the flaw under test
            token,
            JWT_SECRET if kind != "wrong key" else OTHER_KEY,
            algorithms=["HS256", "HS512"],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    watcher = sockets.open(server, secure["bob"], "bob watching")
    before = server.books.snapshot()
    for name, call in protected_calls(secure).items():
        response = call({"Authorization": f"Bearer {token}"})
        body = assert_error_shape(response, 401, "unauthorized")
        assert token not in response.text, name
        assert "access_token" not in body and "user" not in body, name
    refusal = sockets.refusal(server, kind, token=token)
    assert refusal, kind
    # with the cookie the web UI uses (and no CSRF header), too
    cookie = server.fresh_request(
        "POST",
        "/api/messages/send",
        json={"conversationId": secure["chat"], "content": "via cookie"},
        cookies={"access_token_cookie": token},
    )
    assert cookie.status_code in (401, 403), cookie.text
    watcher.assert_quiet(wait=0.2)
    assert server.books.snapshot() == before


def test_socket_of_a_deleted_user_or_an_expired_token_can_do_nothing(
    secure: dict[str, Any], sockets: Any
) -> None:
    server, alice, bob = secure["server"], secure["alice"], secure["bob"]
    ghost = server.account("ghost")
    ghost_chat = server.conversation(ghost, alice)
    short = forge_token(alice.id, expires_in=1.5)  # alice's, expiring while the socket is open
    ghost_socket = sockets.open(server, ghost, "ghost")
    short_socket = sockets.open(server, short, "alice with a short token")
    alice_socket, bob_socket = sockets.open(server, alice, "alice"), sockets.open(server, bob, "bob")
    with server.books.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM users WHERE id = %(id)s", {"id": ghost.id})
    time.sleep(1.6)
    before = server.books.snapshot()
    message_ids = [m["id"] for m in secure["messages"]]
    for event, payload in (
        ("join", {"conversationId": ghost_chat}),
        ("typing", {"conversationId": ghost_chat, "isTyping": True}),
        ("message:ack", {"messageIds": message_ids}),
    ):
        answer = ghost_socket.call(event, payload)
        assert answer.get("ok") is False or answer == {"ok": True, "delivered": 0}, (event, answer)
    # The expired token's socket is dropped at its first event, unanswered.
    short_socket.emit("message:ack", {"messageIds": message_ids})
    assert short_socket.disconnected.wait(5), "a socket whose token expired stayed connected"
    alice_socket.assert_quiet(wait=0.3)
    bob_socket.assert_quiet(wait=0.0)
    assert server.books.snapshot() == before


# --------------------------------------------------------------------------- object-level authorization


def test_outsider_can_read_write_or_mark_nothing_of_a_conversation_over_rest(secure: dict[str, Any]) -> None:
    server, carol, chat = secure["server"], secure["carol"], secure["chat"]
    message_ids = [m["id"] for m in secure["messages"]]
    before = server.books.snapshot()
    missing = str(uuid.uuid4())

    def get(params: dict[str, Any]) -> requests.Response:
        return server.request("GET", "/api/messages", params=params, headers=carol.headers)

    def post(path: str, body: dict[str, Any]) -> requests.Response:
        return server.request("POST", path, json=body, headers=carol.headers)

    not_found = get({"conversationId": missing})
    assert_error_shape(not_found, 404, "conversation_not_found")
    for attempt in (
        get({"conversationId": chat}),
        get({"conversationId": chat, "after": message_ids[0]}),
        get({"conversationId": chat, "before": message_ids[-1]}),
        post("/api/messages/send", {"conversationId": chat, "content": "intruding"}),
        post(
            "/api/messages/send", {"conversationId": chat, "content": "second", "clientMessageId": "alice-2"}
        ),
        post("/api/messages/read", {"conversationId": chat}),
        post("/api/messages/read", {"conversationId": chat, "messageIds": message_ids}),
    ):  # exactly as a conversation that does not exist
        assert (attempt.status_code, attempt.json()) == (404, not_found.json()), attempt.text
    # their message ids as cursors or read targets in carol's own conversation: nothing found, nothing marked
    for direction in ("before", "after"):
        cursor = get({"conversationId": secure["carols_chat"], direction: message_ids[0]})
        assert_error_shape(cursor, 400, "invalid_cursor")
    read = post("/api/messages/read", {"conversationId": secure["carols_chat"], "messageIds": message_ids})
    assert read.status_code == 200 and read.json()["updated"] == 0, read.text
    listed = server.request("GET", "/api/conversations", headers=carol.headers).json()["conversations"]
    assert chat not in {c["id"] for c in listed}
    assert "for bob's eyes only" not in str(listed)
    found = server.request("GET", "/api/users", params={"q": secure["alice"].username}, headers=carol.headers)
    assert found.json()["users"] == [
        {
            "id": secure["alice"].id,
            "username": secure["alice"].username,
            "displayName": secure["alice"].username,
        }
    ]  # no hash, no balance, nothing but the public profile
    assert_error_shape(
        post("/api/conversations/create", {"receiverId": carol.id}), 400, "cannot_message_self"
    )
    assert server.books.snapshot() == before


def test_outsider_socket_events_reach_nobody_and_change_nothing(secure: dict[str, Any], sockets: Any) -> None:
    server, alice, bob, carol, chat = (secure[k] for k in ("server", "alice", "bob", "carol", "chat"))
    message_ids = [m["id"] for m in secure["messages"]]
    alice_socket, bob_socket = sockets.open(server, alice, "alice"), sockets.open(server, bob, "bob")
    carol_socket = sockets.open(server, carol, "carol")
    before = server.books.snapshot()

    assert carol_socket.call("join", {"conversationId": chat})["error"]["code"] == "conversation_not_found"
    assert carol_socket.call("typing", {"conversationId": chat, "isTyping": True})["error"]["code"] == (
        "conversation_not_found"
    )
    assert carol_socket.call("message:ack", {"messageIds": message_ids}) == {"ok": True, "delivered": 0}
    assert alice_socket.call("message:ack", {"messageIds": message_ids[:2]}) == {"ok": True, "delivered": 0}
    assert carol_socket.call("leave", {"conversationId": chat}) == {"ok": True}
    for hostile in (None, "x", [], {"conversationId": "' OR 1=1 --"}, {"conversationId": chat, "extra": 1}):
        assert carol_socket.call("join", hostile)["error"]["code"] == "validation_error", hostile
    assert carol_socket.call("message:ack", {"messageIds": [str(uuid.uuid4())] * 501})["error"]["code"] == (
        "validation_error"
    )
    alice_socket.assert_quiet(wait=0.3)
    bob_socket.assert_quiet(wait=0.0)
    carol_socket.assert_quiet(wait=0.0)
    assert server.books.snapshot() == before

    # the control: the same events from a participant do reach the other one, and never carol
    sent = server.sent(bob, chat, "after the attempts")["message"]
    alice_socket.wait_for("message:new", lambda m: m["id"] == sent["id"])
    assert bob_socket.call("typing", {"conversationId": chat, "isTyping": True}) == {"ok": True}
    alice_socket.wait_for("typing")
    carol_socket.assert_quiet(wait=0.3)


# --------------------------------------------------------------------------- mass assignment

SERVER_OWNED = {
    "senderId": lambda ctx: ctx["bob"].id,
    "isRead": lambda ctx: True,
    "readAt": lambda ctx: iso_now(),
    "deliveredAt": lambda ctx: iso_now(),
    "pointsCharged": lambda ctx: 0,
    "isExpired": lambda ctx: True,
    "expiresAt": lambda ctx: "2099-01-01T00:00:00Z",
    "balance": lambda ctx: 1_000_000,
    "pointsBalance": lambda ctx: 1_000_000,
    "id": lambda ctx: str(uuid.uuid4()),
    "createdAt": lambda ctx: "2000-01-01T00:00:00Z",
    "points_charged": lambda ctx: 0,
    "sender_id": lambda ctx: ctx["bob"].id,
    "is_read": lambda ctx: True,
}


@pytest.mark.parametrize("field", list(SERVER_OWNED))
def test_server_owned_field_is_refused_on_send_read_create_and_register(
    secure: dict[str, Any], field: str
) -> None:
    server, alice, carol, chat = secure["server"], secure["alice"], secure["carol"], secure["chat"]
    value = SERVER_OWNED[field](secure)
    before = server.books.snapshot()
    attempts = {
        "send": ("/api/messages/send", alice, {"conversationId": chat, "content": "hi", field: value}),
        "send with clientMessageId": (
            "/api/messages/send",
            alice,
            {"conversationId": chat, "content": "hi", "clientMessageId": f"mass-{field}", field: value},
        ),
        "read": ("/api/messages/read", secure["bob"], {"conversationId": chat, field: value}),
        "create": ("/api/conversations/create", carol, {"receiverId": alice.id, field: value}),
        "register": (
            "/api/auth/register",
            None,
            {"username": unique_name("mass"), "password": PASSWORD, field: value},
        ),
    }
    for name, (path, who, body) in attempts.items():
        headers = who.headers if isinstance(who, Account) else {}
        response = server.request("POST", path, json=body, headers=headers)
        error = assert_error_shape(response, 400, "validation_error")["error"]
        assert {"field": field, "message": "is not an allowed field"} in error["fields"], (name, error)
    assert server.books.snapshot() == before


# --------------------------------------------------------------------------- cross-origin sockets


def test_cross_origin_socket_handshakes_are_refused_even_with_a_valid_cookie_or_token(
    secure: dict[str, Any],
) -> None:
    server, alice = secure["server"], secure["alice"]
    host = server.url.removeprefix("http://")
    port = int(host.rsplit(":", 1)[1])
    cookie = f"access_token_cookie={alice.token}"
    polling = "/socket.io/?EIO=4&transport=polling"

    def handshake(origin: str | None, **params: str) -> requests.Response:
        headers = {"Cookie": cookie} | ({"Origin": origin} if origin else {})
        return server.fresh_request("GET", polling, params=params, headers=headers)

    control = handshake(server.url)
    assert control.status_code == 200 and control.text.startswith("0{"), control.text
    assert control.headers.get("Access-Control-Allow-Origin") in (None, server.url)
    hostile = [
        "http://evil.example",
        "null",
        f"http://{host}.evil.example",
        f"http://evil.example/{host}",
        f"http://evil.example?{host}",
        f"https://{host}",
        f"http://127.0.0.1:{port + 1}",
        f"http://localhost:{port}",
        f"http://{host}@evil.example",
    ]
    for origin in hostile:
        for params in ({}, {"token": alice.token}):
            refused = handshake(origin, **params)
            assert refused.status_code == 400, (origin, refused.status_code, refused.text[:200])
            assert "Access-Control-Allow-Origin" not in refused.headers
            assert not refused.text.startswith("0{"), origin

    ws_url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    for origin in ("http://evil.example", "null", f"http://{host}.evil.example"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(ws_url, origin=origin, cookie=cookie, timeout=5)
        assert refused.value.status_code == 400, origin
    same_origin = websocket.create_connection(ws_url, origin=server.url, cookie=cookie, timeout=5)
    try:  # the control: the same cookie from the page's own origin opens a Socket.IO session
        assert same_origin.recv().startswith("0{")
        same_origin.send("40")
        assert same_origin.recv().startswith("40{")
    finally:
        same_origin.close()

    # and the REST API never hands its answers to another origin
    for method in ("GET", "OPTIONS"):
        response = server.fresh_request(
            method,
            "/api/auth/me",
            headers={
                **alice.headers,
                "Origin": "http://evil.example",
                "Access-Control-Request-Method": "GET",
            },
        )
        assert "Access-Control-Allow-Origin" not in response.headers, (method, response.headers)
        assert "Access-Control-Allow-Credentials" not in response.headers
