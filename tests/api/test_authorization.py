"""Who may call what: tokens are required and checked, and conversations are private.

Every protected endpoint refuses a missing, malformed, forged, expired or revoked
token with 401 in the JSON error shape. A conversation the caller is not part of
answers exactly as one that does not exist, and nothing changes.
"""

import base64
import io
import json
import uuid
from datetime import timedelta
from typing import Any

import jwt
import pytest
from support.push_service import BrowserSubscription
from support.settings import PASSWORD
from support.snapshot import db_state
from support.uploads import image_bytes, uploaded

# (method, path) of every endpoint that needs a token; the request each sends is built below
PROTECTED = [
    ("POST", "/api/auth/logout"),
    ("GET", "/api/auth/me"),
    ("PATCH", "/api/auth/me"),
    ("POST", "/api/auth/password"),
    ("GET", "/api/users"),
    ("POST", "/api/conversations/create"),
    ("GET", "/api/conversations"),
    ("GET", "/api/messages"),
    ("POST", "/api/messages/send"),
    ("POST", "/api/messages/read"),
    ("GET", "/api/messages/quota"),
    ("GET", "/api/search"),
    ("PATCH", "/api/conversations/<uuid:conversation_id>"),
    ("POST", "/api/attachments"),
    ("GET", "/api/attachments/<uuid:attachment_id>"),
    ("GET", "/api/attachments/<uuid:attachment_id>/thumbnail"),
    ("GET", "/api/push/key"),
    ("POST", "/api/push/subscriptions"),
    ("DELETE", "/api/push/subscriptions"),
]
PUBLIC = [
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("GET", "/api/openapi.json"),
]
ENDPOINT_IDS = [f"{method} {path}" for method, path in PROTECTED]


# -- helpers ------------------------------------------------------------------------------


def call(client: Any, method: str, path: str, context: dict[str, str], headers: dict[str, str]) -> Any:
    """A request that would succeed with a valid token."""
    if path == "/api/users":
        return client.get(path, query_string={"q": "b"}, headers=headers)
    if path == "/api/messages":
        return client.get(path, query_string={"conversationId": context["chat"]}, headers=headers)
    if path == "/api/attachments":
        photo = {"file": (io.BytesIO(image_bytes("PNG")), "photo.png", "image/png")}
        return client.post(path, data=photo, headers=headers, content_type="multipart/form-data")
    if "<uuid:attachment_id>" in path:
        response = client.get(path.replace("<uuid:attachment_id>", context["attachment"]), headers=headers)
        response.close()
        return response
    if path == "/api/search":
        return client.get(path, query_string={"q": "hello"}, headers=headers)
    bodies = {
        "/api/conversations/create": {"receiverId": context["carol"]},
        "/api/messages/send": {"conversationId": context["chat"], "content": "hi"},
        "/api/messages/read": {"conversationId": context["chat"]},
        "/api/auth/password": {"currentPassword": PASSWORD, "newPassword": "a-new-passphrase-42"},
        "/api/push/subscriptions": BrowserSubscription.at("https://push.example.com/send/a1").as_json(),
    }
    if method == "DELETE":
        return client.delete(path, json={"endpoint": "https://push.example.com/send/a1"}, headers=headers)
    if method == "POST":
        return client.post(path, json=bodies.get(path), headers=headers)
    if path == "/api/auth/me":
        return client.patch(path, json={"displayName": "Renamed"}, headers=headers)
    if method == "PATCH":
        chat_path = path.replace("<uuid:conversation_id>", context["chat"])
        return client.patch(chat_path, json={"muted": True}, headers=headers)
    return client.get(path, headers=headers)


def assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "unauthorized"
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


def assert_not_found_like_a_missing_conversation(response: Any, missing: Any) -> None:
    """The answer about someone else's conversation is the answer about no conversation."""
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "conversation_not_found"
    assert response.status_code == missing.status_code
    assert response.get_json() == missing.get_json()
    assert response.mimetype == missing.mimetype


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def bad_tokens(good: str, secret: str) -> dict[str, str | None]:
    """Authorization header values that must all be refused."""
    claims = claims_of(good)
    header, _payload, signature = good.split(".")
    someone_else = {**claims, "sub": str(uuid.uuid4())}
    return {
        "missing": None,
        "empty-bearer": "Bearer ",
        "no-scheme": good,
        "basic-scheme": f"Basic {good}",
        "garbage": "Bearer not-a-token",
        "garbage-three-parts": "Bearer aaa.bbb.ccc",
        "other-key": "Bearer " + jwt.encode(claims, "another-key-that-is-long-enough-for-hs256!", "HS256"),
        "alg-none": "Bearer " + b64url({"alg": "none", "typ": "JWT"}) + "." + b64url(claims) + ".",
        "alg-none-keeping-signature": "Bearer "
        + b64url({"alg": "none", "typ": "JWT"})
        + "."
        + b64url(claims)
        + "."
        + signature,
        "tampered-payload": f"Bearer {header}.{b64url({**claims, 'sub': str(uuid.uuid4())})}.{signature}",
        "unknown-user": "Bearer " + jwt.encode(someone_else, secret, "HS256"),
        # Signed with the right key but without the token id that revocation needs.
        "no-jti": "Bearer " + jwt.encode({k: v for k, v in claims.items() if k != "jti"}, secret, "HS256"),
        "null-jti": "Bearer " + jwt.encode({**claims, "jti": None}, secret, "HS256"),
    }


TOKEN_KINDS = [
    "missing",
    "empty-bearer",
    "no-scheme",
    "basic-scheme",
    "garbage",
    "garbage-three-parts",
    "other-key",
    "alg-none",
    "alg-none-keeping-signature",
    "tampered-payload",
    "unknown-user",
    "no-jti",
    "null-jti",
]


@pytest.fixture
def context(client: Any, alice: Any, bob: Any, carol: Any, chat: str) -> dict[str, str]:
    photo = uploaded(client, alice, image_bytes("PNG"), "photo.png")  # alice's, not sent yet
    return {"chat": chat, "carol": carol.id, "attachment": photo["id"]}


# -- every protected endpoint needs a valid token -----------------------------------------


def test_every_api_route_is_listed_as_protected_or_public(app):
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes == set(PROTECTED) | set(PUBLIC)
    for rule in app.url_map.iter_rules():
        spec = getattr(app.view_functions[rule.endpoint], "api_spec", None)
        if spec is None:
            continue
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert spec.auth == ((method, rule.rule) in PROTECTED), rule.rule


@pytest.mark.parametrize("kind", TOKEN_KINDS)
@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=ENDPOINT_IDS)
def test_protected_endpoint_refuses_a_bad_token(app, client, alice, context, method, path, kind):
    value = bad_tokens(alice.token, app.config["JWT_SECRET"])[kind]
    headers = {} if value is None else {"Authorization": value}
    before = db_state()
    assert_unauthorized(call(client, method, path, context, headers))
    assert db_state() == before


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=ENDPOINT_IDS)
def test_protected_endpoint_accepts_the_valid_token(client, alice, context, method, path):
    """The control for the refusals above: the same request with the real token passes."""
    response = call(client, method, path, context, alice.headers)
    assert response.status_code in (200, 201, 204), response.get_json()


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=ENDPOINT_IDS)
def test_protected_endpoint_refuses_a_token_past_24_hours(clock, client, alice, context, method, path):
    clock.shift(timedelta(hours=24, seconds=1))
    before = db_state()
    response = call(client, method, path, context, alice.headers)
    assert_unauthorized(response)
    assert "expired" in response.get_json()["error"]["message"]
    assert db_state() == before


def test_a_token_is_still_accepted_just_before_24_hours(clock, api, alice):
    clock.shift(timedelta(hours=24) - timedelta(seconds=1))
    assert api.client.get("/api/auth/me", headers=alice.headers).status_code == 200
    clock.shift(timedelta(seconds=2))
    assert_unauthorized(api.client.get("/api/auth/me", headers=alice.headers))


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=ENDPOINT_IDS)
def test_protected_endpoint_refuses_a_token_revoked_by_logout(api, client, alice, context, method, path):
    assert client.post("/api/auth/logout", headers=alice.headers).status_code == 200
    before = db_state()
    response = call(client, method, path, context, alice.headers)
    assert_unauthorized(response)
    assert "revoked" in response.get_json()["error"]["message"]
    assert db_state() == before


def test_logout_revokes_only_that_token(api, client, alice):
    second = api.login("alice")
    assert second.status_code == 200
    other_headers = {"Authorization": f"Bearer {second.json['accessToken']}"}
    assert client.post("/api/auth/logout", headers=alice.headers).status_code == 200
    assert_unauthorized(client.get("/api/auth/me", headers=alice.headers))
    assert client.get("/api/auth/me", headers=other_headers).status_code == 200


# -- someone else's conversation is answered as no conversation ----------------------------


@pytest.fixture
def history(api: Any, alice: Any, bob: Any, chat: str) -> dict[str, list[str]]:
    """Alice sent bob two messages and bob sent one back; none read, bob's undelivered."""
    ids: dict[str, list[str]] = {"alice": [], "bob": []}
    for who, name, text in ((alice, "alice", "a1"), (alice, "alice", "a2"), (bob, "bob", "b1")):
        response = api.send(who, chat, text)
        assert response.status_code == 201, response.json
        ids[name].append(response.json["message"]["id"])
    return ids


def test_outsider_fetch_answers_like_a_missing_conversation(api, alice, carol, chat, history):
    before = db_state()
    response = api.messages(carol, chat)
    missing = api.messages(carol, str(uuid.uuid4()))
    assert_not_found_like_a_missing_conversation(response, missing)
    assert db_state() == before  # in particular nothing was marked delivered


@pytest.mark.parametrize("direction", ["before", "after"])
def test_outsider_fetch_with_their_message_as_cursor_answers_like_a_missing_conversation(
    api, carol, chat, history, direction
):
    cursor = history["alice"][0]
    before = db_state()
    response = api.messages(carol, chat, **{direction: cursor})
    missing = api.messages(carol, str(uuid.uuid4()), **{direction: cursor})
    assert_not_found_like_a_missing_conversation(response, missing)
    assert db_state() == before


@pytest.mark.parametrize("direction", ["before", "after"])
def test_their_message_as_cursor_in_my_conversation_answers_like_no_message(
    api, alice, carol, chat, history, direction
):
    own_chat = api.conversation(carol, alice)
    before = db_state()
    response = api.messages(carol, own_chat, **{direction: history["bob"][0]})
    no_message = api.messages(carol, own_chat, **{direction: str(uuid.uuid4())})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_cursor"
    assert response.get_json() == no_message.get_json()
    assert db_state() == before


def test_outsider_send_answers_like_a_missing_conversation_and_charges_nothing(api, carol, chat, history):
    quota_before = api.quota(carol).json
    before = db_state()
    response = api.send(carol, chat, "let me in")
    missing = api.send(carol, str(uuid.uuid4()), "let me in")
    assert_not_found_like_a_missing_conversation(response, missing)
    assert db_state() == before
    assert api.quota(carol).json == quota_before
    assert quota_before["messagesSentToday"] == 0


def test_outsider_send_with_a_client_message_id_of_theirs_answers_like_a_missing_conversation(
    api, alice, carol, chat
):
    first = api.send(alice, chat, "hello", clientMessageId="shared-id")
    assert first.status_code == 201
    before = db_state()
    response = api.send(carol, chat, "hello", clientMessageId="shared-id")
    missing = api.send(carol, str(uuid.uuid4()), "hello", clientMessageId="shared-id")
    assert_not_found_like_a_missing_conversation(response, missing)
    assert db_state() == before


def test_outsider_settings_change_answers_like_a_missing_conversation(api, alice, carol, chat, history):
    response = api.update_conversation(carol, chat, archived=True, muted=True, expirationHours=1)
    missing = api.update_conversation(carol, str(uuid.uuid4()), archived=True, muted=True, expirationHours=1)
    assert_not_found_like_a_missing_conversation(response, missing)
    assert api.conversations(alice).json["conversations"][0]["expirationHours"] is None


@pytest.mark.parametrize("with_ids", [False, True], ids=["all", "listed"])
def test_outsider_read_answers_like_a_missing_conversation_and_marks_nothing(
    api, carol, chat, history, with_ids
):
    extra = {"messageIds": history["alice"] + history["bob"]} if with_ids else {}
    before = db_state()
    response = api.read(carol, chat, **extra)
    missing = api.read(carol, str(uuid.uuid4()), **extra)
    assert_not_found_like_a_missing_conversation(response, missing)
    assert db_state() == before


def test_reading_their_message_ids_in_my_own_conversation_marks_nothing(api, alice, carol, chat, history):
    own_chat = api.conversation(carol, alice)
    before = db_state()
    response = api.read(carol, own_chat, messageIds=history["alice"] + history["bob"])
    assert response.status_code == 200, response.json
    assert response.json["updated"] == 0
    assert response.json["messageIds"] == []
    assert db_state() == before


def test_outsider_sees_nothing_of_their_conversation_in_the_list(api, alice, bob, carol, chat, history):
    api.conversation(carol, alice)
    listed = api.conversations(carol).json["conversations"]
    assert len(listed) == 1
    assert listed[0]["id"] != chat
    for conversation in listed:
        assert {p["id"] for p in conversation["participants"]} == {alice.id, carol.id}
        assert conversation["lastMessage"] is None


# -- the caller's own messages are never marked read ---------------------------------------


def _states(api: Any, who: Any, chat: str) -> dict[str, tuple[bool, str | None]]:
    return {m["id"]: (m["isRead"], m["readAt"]) for m in api.messages(who, chat).json["messages"]}


def test_reading_my_own_message_ids_changes_nothing(api, alice, bob, chat, history):
    before = db_state()
    response = api.read(bob, chat, messageIds=history["bob"])
    assert response.status_code == 200, response.json
    assert response.json == {"updated": 0, "readAt": None, "messageIds": []}
    assert db_state() == before


def test_read_all_marks_only_the_other_participants_messages(clock, api, alice, bob, chat, history):
    response = api.read(bob, chat)
    assert response.status_code == 200, response.json
    assert response.json["updated"] == 2
    assert set(response.json["messageIds"]) == set(history["alice"])
    states = _states(api, alice, chat)
    assert all(states[mid][0] and states[mid][1] for mid in history["alice"])
    assert states[history["bob"][0]] == (False, None)  # bob's own message is untouched

    clock.shift(timedelta(minutes=5))
    response = api.read(alice, chat)
    assert response.json["updated"] == 1
    assert response.json["messageIds"] == history["bob"]
    after = _states(api, alice, chat)
    for mid in history["alice"]:  # alice's read left her own messages as bob marked them
        assert after[mid] == states[mid]
    assert after[history["bob"][0]][0] is True


def test_read_of_listed_mixed_ids_marks_only_the_other_participants(api, alice, bob, chat, history):
    response = api.read(alice, chat, messageIds=history["alice"] + history["bob"])
    assert response.status_code == 200, response.json
    assert response.json["messageIds"] == history["bob"]
    states = _states(api, bob, chat)
    assert all(states[mid] == (False, None) for mid in history["alice"])
