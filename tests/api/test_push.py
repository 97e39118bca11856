"""Web Push (API.md, Push notifications): subscriptions, and the pushes a committed
message sends to recipients with no open socket, checked at a loopback push service
that verifies the VAPID token and decrypts each push as a browser would."""

import base64
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from support.push_service import FakePushService

from app.extensions import db
from app.models import PushSubscription

PUSH_WAIT = 10.0


@pytest.fixture
def push_service(app: Any) -> Iterator[FakePushService]:
    """A push service on loopback that accepts only the app's VAPID key; every push of
    the test has ended before the database is emptied."""
    with FakePushService(app.extensions["push_public_key"]) as service:
        yield service
        service.release()
        settled(app)


def subscribe(api: Any, who: Any, subscription: Any) -> Any:
    return api.client.post("/api/push/subscriptions", json=subscription.as_json(), headers=who.headers)


def settled(app: Any) -> None:
    """Every push the app started has ended."""
    assert app.extensions["push"].wait_idle(PUSH_WAIT)


def subscriptions_of(user_id: str) -> list[str]:
    """The endpoints stored for a user."""
    query = sa.select(PushSubscription.endpoint).where(PushSubscription.user_id == uuid.UUID(user_id))
    endpoints = list(db.session.scalars(query))
    db.session.rollback()
    return endpoints


# ---------------------------------------------------------------- key and subscriptions


def test_the_key_is_the_servers_vapid_public_key(app, api, alice):
    response = api.client.get("/api/push/key", headers=alice.headers)
    assert response.status_code == 200
    key = response.json["publicKey"]
    assert key == app.extensions["push_public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4
    assert api.client.get("/api/push/key").status_code == 401


def test_subscribing_twice_refreshes_and_another_user_takes_the_endpoint_over(
    app, api, alice, bob, push_service
):
    browser = push_service.subscribe()
    first = subscribe(api, bob, browser)
    assert first.status_code == 201
    again = subscribe(api, bob, browser)
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    # alice logs in on bob's browser and subscribes: the endpoint is hers now
    moved = subscribe(api, alice, browser)
    assert moved.status_code == 201
    assert subscriptions_of(bob.id) == [] and subscriptions_of(alice.id) == [browser.endpoint]


def test_unsubscribing_forgets_the_endpoint(app, api, alice, bob, chat, push_service):
    browser = push_service.subscribe()
    subscribe(api, bob, browser)
    response = api.client.delete(
        "/api/push/subscriptions", json={"endpoint": browser.endpoint}, headers=bob.headers
    )
    assert response.status_code == 204
    assert (
        api.client.delete(
            "/api/push/subscriptions", json={"endpoint": browser.endpoint}, headers=bob.headers
        ).status_code
        == 204
    )
    api.send(alice, chat, "after unsubscribing")
    settled(app)
    assert push_service.deliveries == []


def test_one_user_keeps_at_most_the_configured_number_of_subscriptions(app, api, bob, push_service):
    app.config["PUSH_MAX_SUBSCRIPTIONS_PER_USER"] = 3
    browsers = [push_service.subscribe() for _ in range(4)]
    for browser in browsers:
        assert subscribe(api, bob, browser).status_code == 201
    assert sorted(subscriptions_of(bob.id)) == sorted(b.endpoint for b in browsers[1:])


def _valid(push_service: FakePushService) -> dict[str, Any]:
    return push_service.subscribe().as_json()


BAD_SUBSCRIPTIONS = {
    "endpoint of 10 kB": lambda s: s | {"endpoint": "https://push.example.com/" + "a" * 10_000},
    "endpoint not a URL": lambda s: s | {"endpoint": "not a url"},
    "endpoint ftp": lambda s: s | {"endpoint": "ftp://push.example.com/x"},
    "endpoint with a password": lambda s: s | {"endpoint": "https://user:pw@push.example.com/x"},
    "endpoint with a NUL": lambda s: s | {"endpoint": "https://push.example.com/\x00"},
    "endpoint not ASCII": lambda s: s | {"endpoint": "https://push.example.com/é"},
    "no keys": lambda s: {"endpoint": s["endpoint"]},
    "p256dh of the wrong length": lambda s: s | {"keys": s["keys"] | {"p256dh": s["keys"]["p256dh"][:-4]}},
    "p256dh not on the curve": lambda s: s | {"keys": s["keys"] | {"p256dh": "BA" + "A" * 85}},
    "p256dh not base64url": lambda s: s | {"keys": s["keys"] | {"p256dh": "!" * 87}},
    "auth of the wrong length": lambda s: s | {"keys": s["keys"] | {"auth": "AAAA"}},
    "auth of 10 kB": lambda s: s | {"keys": s["keys"] | {"auth": "A" * 10_000}},
    "an unknown field": lambda s: s | {"extra": 1},
}


@pytest.mark.parametrize("case", list(BAD_SUBSCRIPTIONS))
def test_a_bad_subscription_is_refused_with_400_and_nothing_stored(app, api, bob, push_service, case):
    body = BAD_SUBSCRIPTIONS[case](_valid(push_service))
    response = api.client.post("/api/push/subscriptions", json=body, headers=bob.headers)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "validation_error"
    assert subscriptions_of(bob.id) == []


PRIVATE_ENDPOINTS = [
    "http://push.example.com/x",  # not https
    "https://127.0.0.1/x",
    "https://[::1]/x",
    "https://10.1.2.3/x",
    "https://192.168.0.10:8443/x",
    "https://169.254.169.254/latest/meta-data",
    "https://[::ffff:127.0.0.1]/x",
    "https://localhost/x",
    "https://push.localhost/x",
]


@pytest.mark.parametrize("endpoint", PRIVATE_ENDPOINTS)
def test_production_refuses_endpoints_that_are_not_public_https(app, api, bob, push_service, endpoint):
    app.config["PUSH_ALLOW_LOCAL_ENDPOINTS"] = False
    body = _valid(push_service) | {"endpoint": endpoint}
    response = api.client.post("/api/push/subscriptions", json=body, headers=bob.headers)
    assert response.status_code == 400, response.json
    assert response.json["error"]["fields"][0]["field"] == "endpoint"
    public = _valid(push_service) | {"endpoint": "https://fcm.googleapis.com/fcm/send/abc:def"}
    assert api.client.post("/api/push/subscriptions", json=public, headers=bob.headers).status_code == 201


def test_with_push_off_the_key_and_subscriptions_answer_push_disabled(app, api, bob, push_service):
    app.extensions["push"], dispatcher = None, app.extensions["push"]
    try:
        response = api.client.get("/api/push/key", headers=bob.headers)
        assert response.status_code == 404 and response.json["error"]["code"] == "push_disabled"
        response = subscribe(api, bob, push_service.subscribe())
        assert response.status_code == 404 and response.json["error"]["code"] == "push_disabled"
    finally:
        app.extensions["push"] = dispatcher


# ---------------------------------------------------------------- who gets a push


def test_an_offline_recipient_gets_one_push_per_subscription_decrypted_to_the_payload(
    app, api, alice, bob, chat, push_service
):
    phone, laptop = push_service.subscribe(), push_service.subscribe()
    subscribe(api, bob, phone)
    subscribe(api, bob, laptop)
    subscribe(api, alice, push_service.subscribe())  # the sender's own browser gets nothing
    message = api.send(alice, chat, "see you at noon").json["message"]
    deliveries = push_service.wait_for(2)
    settled(app)
    assert len(push_service.deliveries) == 2, "one push per subscription, none to the sender"
    assert sorted(d.endpoint for d in deliveries) == sorted([phone.endpoint, laptop.endpoint])
    for delivery in deliveries:
        assert delivery.problem is None and delivery.status == 201
        assert delivery.payload == {
            "type": "message",
            "conversationId": chat,
            "messageId": message["id"],
            "senderName": "alice",
        }
        assert delivery.headers["ttl"] == str(app.config["PUSH_TTL_SECONDS"])
        assert delivery.headers["topic"] == chat.replace("-", "")
        assert delivery.headers["urgency"] == "high"
        assert delivery.claims["sub"] == "mailto:operator@example.com"
        assert delivery.claims["aud"] == push_service.url


def test_a_recipient_with_an_open_socket_gets_no_push_until_it_closes(
    app, api, alice, bob, chat, connect, push_service
):
    subscribe(api, bob, push_service.subscribe())
    socket = connect(bob)
    api.send(alice, chat, "you are here")
    settled(app)
    assert push_service.deliveries == []
    socket.disconnect()
    second = api.send(alice, chat, "you left").json["message"]
    [delivery] = push_service.wait_for(1)
    assert delivery.payload["messageId"] == second["id"]


def test_a_muted_conversation_sends_no_push(app, api, alice, bob, chat, push_service):
    subscribe(api, bob, push_service.subscribe())
    assert api.update_conversation(bob, chat, muted=True).status_code == 200
    api.send(alice, chat, "shh")
    settled(app)
    assert push_service.deliveries == []
    api.update_conversation(bob, chat, muted=False)
    api.send(alice, chat, "loud again")
    assert push_service.wait_for(1)[0].payload["senderName"] == "alice"


def test_the_content_is_sent_only_when_allowed_and_never_for_an_expiring_message(
    app, api, alice, bob, chat, push_service
):
    subscribe(api, bob, push_service.subscribe())
    app.extensions["push"].include_content = True
    api.send(alice, chat, "plain words")
    assert push_service.wait_for(1)[0].payload["content"] == "plain words"
    expiring = api.send(alice, chat, "secret words", expirationHours=1).json["message"]
    delivery = push_service.wait_for(2)[1]
    assert delivery.payload["messageId"] == expiring["id"]
    assert "content" not in delivery.payload
    assert b"secret" not in str(delivery.payload).encode()
    ttl = int(delivery.headers["ttl"])
    assert 0 < ttl <= 3600 - 60, "the push service drops it before the message expires"
    api.send(alice, chat, "x" * 1000)
    preview = push_service.wait_for(3)[2].payload["content"]
    assert preview == "x" * 200 + "…"


def test_a_message_under_the_chats_timer_is_pushed_as_an_expiring_one(
    app, api, alice, bob, chat, push_service
):
    subscribe(api, bob, push_service.subscribe())
    app.extensions["push"].include_content = True
    assert api.update_conversation(alice, chat, expirationHours=2).status_code == 200
    api.send(alice, chat, "timed by the chat")
    delivery = push_service.wait_for(1)[0]
    assert "content" not in delivery.payload
    assert 0 < int(delivery.headers["ttl"]) <= 2 * 3600 - 60


# ---------------------------------------------------------------- the push service's answers


@pytest.mark.parametrize("mode", ["gone", "not_found"])
def test_a_subscription_the_push_service_says_is_gone_is_deleted(
    app, api, alice, bob, chat, push_service, mode
):
    gone, kept = push_service.subscribe(mode), push_service.subscribe()
    subscribe(api, bob, gone)
    subscribe(api, bob, kept)
    api.send(alice, chat, "first")
    push_service.wait_for(2)
    settled(app)
    assert subscriptions_of(bob.id) == [kept.endpoint]
    api.send(alice, chat, "second")
    push_service.wait_for(3)
    settled(app)
    assert len(push_service.to(gone)) == 1 and len(push_service.to(kept)) == 2


@pytest.mark.parametrize("mode", ["too_many", "error", "redirect"])
def test_other_failures_are_logged_once_not_retried_and_the_subscription_kept(
    app, api, alice, bob, chat, push_service, caplog, mode
):
    failing = push_service.subscribe(mode)
    subscribe(api, bob, failing)
    with caplog.at_level(logging.WARNING, logger="app.push.dispatch"):
        response = api.send(alice, chat, "to a failing service")
        push_service.wait_for(1)
        settled(app)
    assert response.status_code == 201
    assert len(push_service.deliveries) == 1, "no retry, no redirect followed"
    warnings = [r.getMessage() for r in caplog.records if r.name == "app.push.dispatch"]
    assert len(warnings) == 1 and any(f"HTTP {status}" in warnings[0] for status in (429, 500, 307))
    assert "/push/" not in warnings[0], "the endpoint's path is a secret: the log names the origin only"
    assert subscriptions_of(bob.id) == [failing.endpoint]


def test_a_push_service_that_cannot_be_reached_fails_nothing(app, api, alice, bob, chat, caplog):
    body = {
        "endpoint": "http://127.0.0.1:9/push/nobody-listens",
        "keys": {"p256dh": "", "auth": ""},
    }
    with FakePushService() as service:
        body["keys"] = service.subscribe().as_json()["keys"]
    assert api.client.post("/api/push/subscriptions", json=body, headers=bob.headers).status_code == 201
    with caplog.at_level(logging.WARNING, logger="app.push.dispatch"):
        assert api.send(alice, chat, "into the void").status_code == 201
        settled(app)
    assert any("ConnectionError" in r.getMessage() for r in caplog.records if r.name == "app.push.dispatch")


def test_at_most_max_pending_messages_are_pushed_at_once(app, api, alice, bob, chat, push_service, caplog):
    app.extensions["push"].max_pending = 1
    subscribe(api, bob, push_service.subscribe("hang"))
    with caplog.at_level(logging.WARNING, logger="app.push.dispatch"):
        api.send(alice, chat, "hangs")
        push_service.wait_for(1)
        assert api.send(alice, chat, "skipped").status_code == 201
    assert any("push skipped" in r.getMessage() for r in caplog.records)
    push_service.release()
    settled(app)
    assert len(push_service.deliveries) == 1


# ---------------------------------------------------------------- sessions


def test_logging_out_deletes_that_sessions_subscriptions(app, api, alice, bob, chat, push_service):
    browser = push_service.subscribe()
    subscribe(api, bob, browser)
    assert api.client.post("/api/auth/logout", headers=bob.headers).status_code in (200, 204)
    assert subscriptions_of(bob.id) == []
    api.send(alice, chat, "after logout")
    settled(app)
    assert push_service.deliveries == []


def test_a_password_change_stops_pushes_to_the_other_sessions_browsers(
    app, api, alice, bob, chat, push_service
):
    old_browser, new_browser = push_service.subscribe(), push_service.subscribe()
    subscribe(api, bob, old_browser)
    new_session = api.login("bob").json["accessToken"]
    new_headers = {"Authorization": f"Bearer {new_session}"}
    api.client.post("/api/push/subscriptions", json=new_browser.as_json(), headers=new_headers)
    response = api.client.post(
        "/api/auth/password",
        json={"currentPassword": bob.password, "newPassword": "another-long-passphrase-42"},
        headers=new_headers,
    )
    assert response.status_code == 200, response.json
    api.send(alice, chat, "after the password change")
    [delivery] = push_service.wait_for(1)
    settled(app)
    assert delivery.endpoint == new_browser.endpoint and len(push_service.deliveries) == 1
