"""Every bad input answers a clear 4xx in the one JSON error shape and writes nothing.

Alice's free quota is used up and she holds points, so a bad send that slipped
through would show up as a message row, a quota count, a debit and a ledger row.
"""

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from support.settings import PASSWORD
from support.snapshot import db_state

from app.extensions import db
from app.models import MessageQuota
from app.services import points

CHAT = "@CHAT@"  # replaced by the conversation id in raw bodies


# -- helpers ------------------------------------------------------------------------------


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is `status` with the one JSON error shape and this code."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, body
    assert isinstance(error["message"], str)
    assert error["message"].strip()
    return error


def assert_validation_error(response: Any, field: str) -> None:
    """400 validation_error whose details name `field`."""
    error = assert_error(response, 400, "validation_error")
    named = [problem["field"] for problem in error["fields"]]
    assert field in named, error


def post_raw(client: Any, path: str, raw: str | bytes, headers: dict[str, str], mimetype: str) -> Any:
    return client.post(path, data=raw, headers={**headers, "Content-Type": mimetype})


@pytest.fixture
def paying(app: Any, api: Any, alice: Any, bob: Any, chat: str) -> str:
    """Alice has used today's free messages and holds 100 points; bob sent her two messages."""
    assert api.send(bob, chat, "one").status_code == 201
    assert api.send(bob, chat, "two").status_code == 201
    points.grant_points("alice", 100)
    db.session.execute(
        sa.update(MessageQuota)
        .where(MessageQuota.user_id == uuid.UUID(alice.id))
        .values(messages_sent_today=MessageQuota.daily_free_limit)
    )
    db.session.commit()
    return chat


# -- the set-up detects writes ------------------------------------------------------------


def test_a_valid_send_in_the_paying_setup_is_seen_as_a_write(api, alice, paying):
    before = db_state()
    response = api.send(alice, paying, "paid")
    assert response.status_code == 201, response.json
    assert response.json["charged"] == {"free": False, "points": 10}
    after = db_state()
    assert len(after["messages"]) == len(before["messages"]) + 1
    assert len(after["ledger"]) == len(before["ledger"]) + 1
    assert after["wallets"] != before["wallets"]
    assert after["quotas"] != before["quotas"]


# -- bodies that are not JSON objects -----------------------------------------------------

NOT_JSON_OBJECTS = [
    pytest.param('{"conversationId": "@CHAT@", "content": "hi"}', "text/plain", 415, id="text-plain"),
    pytest.param(
        '{"conversationId": "@CHAT@", "content": "hi"}', "application/x-www-form-urlencoded", 415, id="form"
    ),
    pytest.param("{nope", "application/json", 400, id="garbage"),
    pytest.param("", "application/json", 400, id="empty"),
    pytest.param('[{"conversationId": "@CHAT@", "content": "hi"}]', "application/json", 400, id="array"),
    pytest.param('"hi"', "application/json", 400, id="string"),
    pytest.param("null", "application/json", 400, id="null"),
    pytest.param("42", "application/json", 400, id="number"),
    pytest.param(
        b'{"conversationId": "@CHAT@", "content": "\xff\xfe"}', "application/json", 400, id="not-utf8"
    ),
    pytest.param("[" * 20_000 + "]" * 20_000, "application/json", 400, id="nested-array-too-deep"),
    pytest.param('{"a":' * 10_000 + "1" + "}" * 10_000, "application/json", 400, id="nested-object-too-deep"),
]


@pytest.mark.parametrize(("raw", "mimetype", "status"), NOT_JSON_OBJECTS)
def test_send_refuses_a_body_that_is_not_a_json_object(client, alice, paying, raw, mimetype, status):
    raw = raw.replace(CHAT, paying) if isinstance(raw, str) else raw.replace(CHAT.encode(), paying.encode())
    before = db_state()
    response = post_raw(client, "/api/messages/send", raw, alice.headers, mimetype)
    assert_error(response, status, "unsupported_media_type" if status == 415 else "invalid_json")
    assert db_state() == before


def test_send_refuses_a_body_without_content_type(client, alice, paying):
    before = db_state()
    body = json.dumps({"conversationId": paying, "content": "hi"})
    response = client.post("/api/messages/send", data=body, headers=alice.headers)
    assert_error(response, 415, "unsupported_media_type")
    assert db_state() == before


def test_send_refuses_a_one_megabyte_body(client, alice, paying):
    before = db_state()
    body = json.dumps({"conversationId": paying, "content": "x" * (1 << 20)})
    response = post_raw(client, "/api/messages/send", body, alice.headers, "application/json")
    assert_error(response, 413, "payload_too_large")
    assert db_state() == before


# -- raw JSON numbers and strings that json.dumps cannot produce --------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('{"conversationId": "@CHAT@", "content": "hi", "maxCost": NaN}', id="nan-max-cost"),
        pytest.param('{"conversationId": "@CHAT@", "content": "hi", "expirationHours": NaN}', id="nan-hours"),
        pytest.param('{"conversationId": "@CHAT@", "content": "hi", "maxCost": Infinity}', id="infinity"),
        pytest.param('{"conversationId": "@CHAT@", "content": "hi", "maxCost": -Infinity}', id="-infinity"),
        pytest.param('{"conversationId": "@CHAT@", "content": "hi", "expirationHours": 1e309}', id="1e309"),
        pytest.param('{"conversationId": "@CHAT@", "content": "hi", "maxCost": -1e309}', id="-1e309"),
        pytest.param(
            '{"conversationId": "@CHAT@", "content": "hi", "maxCost": ' + "9" * 5000 + "}", id="5000-digits"
        ),
    ],
)
def test_send_refuses_non_finite_numbers_as_invalid_json(client, alice, paying, raw):
    before = db_state()
    response = post_raw(
        client, "/api/messages/send", raw.replace(CHAT, paying), alice.headers, "application/json"
    )
    assert_error(response, 400, "invalid_json")
    assert db_state() == before


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param(
            '{"conversationId": "@CHAT@", "content": "a\\ud800b"}', "content", id="lone-high-surrogate"
        ),
        pytest.param(
            '{"conversationId": "@CHAT@", "content": "\\udfff"}', "content", id="lone-low-surrogate"
        ),
        pytest.param('{"conversationId": "@CHAT@", "content": "a\\u0000b"}', "content", id="nul-in-content"),
        pytest.param(
            '{"conversationId": "@CHAT@", "content": "hi", "clientMessageId": "a\\u0000"}',
            "clientMessageId",
            id="nul-in-client-message-id",
        ),
        pytest.param(
            '{"conversationId": "@CHAT@", "content": "hi", "clientMessageId": "\\ud800"}',
            "clientMessageId",
            id="surrogate-in-client-message-id",
        ),
    ],
)
def test_send_refuses_lone_surrogates_and_nul_bytes(client, alice, paying, raw, field):
    before = db_state()
    response = post_raw(
        client, "/api/messages/send", raw.replace(CHAT, paying), alice.headers, "application/json"
    )
    assert_validation_error(response, field)
    assert db_state() == before


# -- fields: missing, unknown, wrong types, out of range ----------------------------------

BAD_SEND_FIELDS = [
    pytest.param({"content": "hi"}, "conversationId", id="missing-conversation-id"),
    pytest.param({"conversationId": CHAT}, "content", id="missing-content"),
    pytest.param({"conversationId": CHAT, "content": None}, "content", id="null-content"),
    pytest.param({"conversationId": CHAT, "content": "hi", "isRead": True}, "isRead", id="unknown-isRead"),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "senderId": CHAT}, "senderId", id="unknown-senderId"
    ),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "pointsCharged": 0},
        "pointsCharged",
        id="unknown-pointsCharged",
    ),
    pytest.param({"conversationId": CHAT, "content": "hi", "id": CHAT}, "id", id="unknown-id"),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "createdAt": "2020-01-01T00:00:00Z"},
        "createdAt",
        id="createdAt",
    ),
    pytest.param({"conversation_id": CHAT, "content": "hi"}, "conversation_id", id="snake-case-name"),
    pytest.param(
        {"conversationId": "not-a-uuid", "content": "hi"}, "conversationId", id="conversation-not-uuid"
    ),
    pytest.param({"conversationId": "", "content": "hi"}, "conversationId", id="conversation-empty"),
    pytest.param({"conversationId": 123, "content": "hi"}, "conversationId", id="conversation-number"),
    pytest.param({"conversationId": CHAT, "content": 5}, "content", id="content-number"),
    pytest.param({"conversationId": CHAT, "content": ["hi"]}, "content", id="content-list"),
    pytest.param({"conversationId": CHAT, "content": "x" * 5001}, "content", id="content-5001-chars"),
    pytest.param({"conversationId": CHAT, "content": "é" * 5001}, "content", id="content-5001-non-ascii"),
    pytest.param({"conversationId": CHAT, "content": ""}, "content", id="content-empty"),
    pytest.param({"conversationId": CHAT, "content": "   "}, "content", id="content-spaces"),
    pytest.param({"conversationId": CHAT, "content": " \n\t\r "}, "content", id="content-whitespace"),
    pytest.param({"conversationId": CHAT, "content": "\u00a0\u3000"}, "content", id="content-unicode-spaces"),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "expirationHours": True}, "expirationHours", id="true"
    ),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "expirationHours": False}, "expirationHours", id="false"
    ),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "expirationHours": "5"}, "expirationHours", id="str-5"
    ),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "expirationHours": 1.5}, "expirationHours", id="1.5"
    ),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "expirationHours": 2.0}, "expirationHours", id="2.0"
    ),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "expirationHours": 0}, "expirationHours", id="hours-0"
    ),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "expirationHours": -1}, "expirationHours", id="hours--1"
    ),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "expirationHours": 8761}, "expirationHours", id="8761"
    ),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "expirationHours": 2**31}, "expirationHours", id="2**31"
    ),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "expirationHours": 2**63}, "expirationHours", id="2**63"
    ),
    pytest.param({"conversationId": CHAT, "content": "hi", "maxCost": -1}, "maxCost", id="max-cost--1"),
    pytest.param({"conversationId": CHAT, "content": "hi", "maxCost": True}, "maxCost", id="max-cost-true"),
    pytest.param({"conversationId": CHAT, "content": "hi", "maxCost": "10"}, "maxCost", id="max-cost-str"),
    pytest.param({"conversationId": CHAT, "content": "hi", "maxCost": 10.5}, "maxCost", id="max-cost-float"),
    pytest.param({"conversationId": CHAT, "content": "hi", "maxCost": 2**31}, "maxCost", id="max-cost-2**31"),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "clientMessageId": "c" * 65},
        "clientMessageId",
        id="cmid-65",
    ),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "clientMessageId": ""}, "clientMessageId", id="cmid-empty"
    ),
    pytest.param(
        {"conversationId": CHAT, "content": "hi", "clientMessageId": 7}, "clientMessageId", id="cmid-int"
    ),
]


def _fill(value: Any, chat: str) -> Any:
    if isinstance(value, dict):
        return {key: _fill(item, chat) for key, item in value.items()}
    return chat if value == CHAT else value


@pytest.mark.parametrize(("body", "field"), BAD_SEND_FIELDS)
def test_send_refuses_bad_fields_naming_the_field(client, alice, paying, body, field):
    before = db_state()
    response = client.post("/api/messages/send", json=_fill(body, paying), headers=alice.headers)
    assert_validation_error(response, field)
    assert db_state() == before


def test_send_names_every_missing_field_at_once(client, alice, paying):
    before = db_state()
    response = client.post("/api/messages/send", json={}, headers=alice.headers)
    error = assert_error(response, 400, "validation_error")
    assert {problem["field"] for problem in error["fields"]} == {"conversationId", "content"}
    assert db_state() == before


def test_send_accepts_the_boundary_values(api, alice, chat):
    """The limits refused above are the exact limits: their neighbours are accepted."""
    longest = api.send(alice, chat, "x" * 5000, expirationHours=8760, clientMessageId="c" * 64, maxCost=0)
    assert longest.status_code == 201, longest.json
    assert api.send(alice, chat, "y", expirationHours=1).status_code == 201
    assert (
        api.send(alice, chat, "z", expirationHours=None, clientMessageId=None, maxCost=None).status_code
        == 201
    )


# -- GET /api/messages --------------------------------------------------------------------

BAD_FETCH_QUERIES = [
    pytest.param({"limit": "0"}, "limit", id="limit-0"),
    pytest.param({"limit": "101"}, "limit", id="limit-101"),
    pytest.param({"limit": "-1"}, "limit", id="limit--1"),
    pytest.param({"limit": "abc"}, "limit", id="limit-abc"),
    pytest.param({"limit": ""}, "limit", id="limit-empty"),
    pytest.param({"limit": "1e1"}, "limit", id="limit-1e1"),
    pytest.param({"limit": "9" * 5000}, "limit", id="limit-huge"),
    pytest.param({"conversationId": "not-a-uuid"}, "conversationId", id="conversation-not-uuid"),
    pytest.param({"conversationId": ""}, "conversationId", id="conversation-empty"),
    pytest.param({"before": "not-a-uuid"}, "before", id="before-not-uuid"),
    pytest.param({"after": "12345"}, "after", id="after-not-uuid"),
    pytest.param({"isRead": "true"}, "isRead", id="unknown-param"),
]


@pytest.mark.parametrize(("params", "field"), BAD_FETCH_QUERIES)
def test_fetch_refuses_bad_query_naming_the_parameter(client, alice, paying, params, field):
    before = db_state()
    query = {"conversationId": paying, **params}
    response = client.get("/api/messages", query_string=query, headers=alice.headers)
    assert_validation_error(response, field)
    assert db_state() == before


def test_fetch_refuses_a_missing_conversation_id(client, alice, paying):
    before = db_state()
    response = client.get("/api/messages", headers=alice.headers)
    assert_validation_error(response, "conversationId")
    assert db_state() == before


@pytest.mark.parametrize("name", ["conversationId", "limit", "before"])
def test_fetch_refuses_repeated_query_parameters(client, alice, paying, name):
    values = {"conversationId": paying, "limit": "5", "before": str(uuid.uuid4())}
    query = "&".join(f"{key}={value}" for key, value in values.items() if key != name)
    query += f"&{name}={values[name]}&{name}={values[name]}"
    before = db_state()
    response = client.get(f"/api/messages?{query}", headers=alice.headers)
    assert_validation_error(response, name)
    assert db_state() == before


def _message_ids(client: Any, who: Any, chat: str) -> list[str]:
    response = client.get("/api/messages", query_string={"conversationId": chat}, headers=who.headers)
    assert response.status_code == 200, response.json
    return [message["id"] for message in response.json["messages"]]


def test_fetch_refuses_before_and_after_together(client, alice, bob, paying):
    ids = _message_ids(client, bob, paying)  # bob fetches his own messages: nothing to deliver
    before = db_state()
    query = {"conversationId": paying, "before": ids[1], "after": ids[0]}
    response = client.get("/api/messages", query_string=query, headers=alice.headers)
    assert_error(response, 400, "invalid_cursor")
    assert db_state() == before


@pytest.mark.parametrize("direction", ["before", "after"])
def test_fetch_refuses_a_cursor_from_another_conversation(api, client, alice, bob, carol, paying, direction):
    other_chat = api.conversation(alice, carol)
    sent = api.send(carol, other_chat, "from carol")
    assert sent.status_code == 201, sent.json
    before = db_state()
    query = {"conversationId": paying, direction: sent.json["message"]["id"]}
    response = client.get("/api/messages", query_string=query, headers=alice.headers)
    assert_error(response, 400, "invalid_cursor")
    assert db_state() == before  # bob's undelivered messages were not marked delivered


@pytest.mark.parametrize("direction", ["before", "after"])
def test_fetch_refuses_a_cursor_that_is_no_message(client, alice, paying, direction):
    before = db_state()
    query = {"conversationId": paying, direction: str(uuid.uuid4())}
    response = client.get("/api/messages", query_string=query, headers=alice.headers)
    assert_error(response, 400, "invalid_cursor")
    assert db_state() == before


# -- POST /api/messages/read --------------------------------------------------------------

BAD_READS = [
    pytest.param({}, "conversationId", id="missing-conversation-id"),
    pytest.param({"conversationId": "nope"}, "conversationId", id="conversation-not-uuid"),
    pytest.param({"conversationId": CHAT, "messageIds": []}, "messageIds", id="empty-ids"),
    pytest.param({"conversationId": CHAT, "messageIds": ["nope"]}, "messageIds.0", id="id-not-uuid"),
    pytest.param({"conversationId": CHAT, "messageIds": CHAT}, "messageIds", id="ids-not-a-list"),
    pytest.param({"conversationId": CHAT, "isRead": True}, "isRead", id="unknown-isRead"),
    pytest.param({"conversationId": CHAT, "readAt": "2020-01-01T00:00:00Z"}, "readAt", id="unknown-readAt"),
]


@pytest.mark.parametrize(("body", "field"), BAD_READS)
def test_read_refuses_bad_fields_and_marks_nothing(client, alice, paying, body, field):
    before = db_state()
    response = client.post("/api/messages/read", json=_fill(body, paying), headers=alice.headers)
    assert_validation_error(response, field)
    assert db_state() == before


def test_read_refuses_more_than_500_message_ids(client, alice, paying):
    before = db_state()
    body = {"conversationId": paying, "messageIds": [str(uuid.uuid4()) for _ in range(501)]}
    response = client.post("/api/messages/read", json=body, headers=alice.headers)
    assert_validation_error(response, "messageIds")
    assert db_state() == before


@pytest.mark.parametrize(
    ("raw", "mimetype", "status", "code"),
    [
        pytest.param('{"conversationId": "@CHAT@"}', "text/plain", 415, "unsupported_media_type", id="text"),
        pytest.param("[]", "application/json", 400, "invalid_json", id="array"),
        pytest.param('{"conversationId": "@CHAT@",', "application/json", 400, "invalid_json", id="truncated"),
    ],
)
def test_read_refuses_a_body_that_is_not_a_json_object(client, alice, paying, raw, mimetype, status, code):
    before = db_state()
    response = post_raw(client, "/api/messages/read", raw.replace(CHAT, paying), alice.headers, mimetype)
    assert_error(response, status, code)
    assert db_state() == before


# -- POST /api/conversations/create -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "receiverId", id="missing-receiver"),
        pytest.param({"receiverId": "bob"}, "receiverId", id="receiver-not-uuid"),
        pytest.param({"receiverId": "@BOB@", "pointsCost": -1}, "pointsCost", id="points-cost--1"),
        pytest.param({"receiverId": "@BOB@", "pointsCost": True}, "pointsCost", id="points-cost-true"),
        pytest.param({"receiverId": "@BOB@", "pointsCost": "0"}, "pointsCost", id="points-cost-str"),
        pytest.param(
            {"receiverId": "@BOB@", "pointsCharged": 0}, "pointsCharged", id="unknown-pointsCharged"
        ),
    ],
)
def test_create_conversation_refuses_bad_fields(client, alice, carol, body, field):
    body = {key: carol.id if value == "@BOB@" else value for key, value in body.items()}
    before = db_state()
    response = client.post("/api/conversations/create", json=body, headers=alice.headers)
    assert_validation_error(response, field)
    assert db_state() == before


# -- register -----------------------------------------------------------------------------

BAD_REGISTRATIONS = [
    pytest.param({"username": "ab"}, "username", id="username-2-chars"),
    pytest.param({"username": "u" * 33}, "username", id="username-33-chars"),
    pytest.param({"username": ""}, "username", id="username-empty"),
    pytest.param({"username": "bad name"}, "username", id="username-space"),
    pytest.param({"username": "al!ce"}, "username", id="username-bang"),
    pytest.param({"username": "zoë"}, "username", id="username-non-ascii"),
    pytest.param({"username": "zed\n"}, "username", id="username-trailing-newline"),
    pytest.param({"username": "zed\u0000"}, "username", id="username-nul"),
    pytest.param({"username": "zed\ud800"}, "username", id="username-lone-surrogate"),
    pytest.param({"username": 12345}, "username", id="username-number"),
    pytest.param({"password": "p" * 7}, "password", id="password-7-chars"),
    pytest.param({"password": "p" * 129}, "password", id="password-129-chars"),
    pytest.param({"password": "password\u0000"}, "password", id="password-nul"),
    pytest.param({"password": 12345678}, "password", id="password-number"),
    pytest.param({"displayName": "d" * 65}, "displayName", id="display-name-65-chars"),
    pytest.param({"displayName": ""}, "displayName", id="display-name-empty"),
    pytest.param({"displayName": "\udfff"}, "displayName", id="display-name-lone-surrogate"),
    pytest.param({"id": str(uuid.uuid4())}, "id", id="unknown-id"),
    pytest.param({"isAdmin": True}, "isAdmin", id="unknown-isAdmin"),
]


@pytest.mark.parametrize(("extra", "field"), BAD_REGISTRATIONS)
def test_register_refuses_bad_fields_and_creates_no_user(client, app, extra, field):
    body = {"username": "zed", "password": PASSWORD, **extra}
    # json.dumps keeps lone surrogates as \\ud800 escapes, as a raw client would send them
    raw = json.dumps(body)
    before = db_state()
    response = client.post("/api/auth/register", data=raw, headers={"Content-Type": "application/json"})
    assert_validation_error(response, field)
    assert db_state() == before


@pytest.mark.parametrize(("missing"), ["username", "password"])
def test_register_refuses_a_missing_field(client, app, missing):
    body = {"username": "zed", "password": PASSWORD}
    del body[missing]
    before = db_state()
    response = client.post("/api/auth/register", json=body)
    assert_validation_error(response, missing)
    assert db_state() == before


@pytest.mark.parametrize(
    ("username", "password"),
    [("abc", "p" * 8), ("u" * 32, "p" * 128), ("A.b-c_9", "pässwörd" * 16)],
)
def test_register_accepts_the_boundary_values(api, username, password):
    response = api.register(username, password)
    assert response.status_code == 201, response.json
    assert response.json["user"]["username"] == username


@pytest.mark.parametrize("username", ["ALICE", "Alice", "aLiCe"])
def test_register_refuses_a_username_taken_in_another_case(api, alice, username):
    before = db_state()
    response = api.register(username)
    assert_error(response, 409, "username_taken")
    assert db_state() == before


def test_register_refuses_text_plain_and_a_one_megabyte_body(client, app):
    before = db_state()
    body = json.dumps({"username": "zed", "password": PASSWORD})
    assert_error(
        post_raw(client, "/api/auth/register", body, {}, "text/plain"), 415, "unsupported_media_type"
    )
    big = json.dumps({"username": "zed", "password": PASSWORD, "displayName": "d" * (1 << 20)})
    assert_error(
        post_raw(client, "/api/auth/register", big, {}, "application/json"), 413, "payload_too_large"
    )
    assert db_state() == before


# -- login --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"username": "alice"}, "password", id="missing-password"),
        pytest.param({"password": PASSWORD}, "username", id="missing-username"),
        pytest.param({"username": "alice", "password": ""}, "password", id="empty-password"),
        pytest.param({"username": "alice", "password": 123}, "password", id="password-number"),
        pytest.param({"username": "alice\u0000", "password": PASSWORD}, "username", id="username-nul"),
        pytest.param({"username": "alice", "password": PASSWORD, "role": "admin"}, "role", id="unknown"),
    ],
)
def test_login_refuses_bad_fields_without_issuing_a_token(client, alice, body, field):
    response = client.post("/api/auth/login", json=body)
    assert_validation_error(response, field)
    assert "accessToken" not in response.get_json()


def test_length_errors_speak_of_characters(api):
    response = api.register("ab")
    assert response.status_code == 400
    [problem] = response.json["error"]["fields"]
    assert problem["field"] == "username"
    assert "at least 3 characters" in problem["message"]
