"""Web Push in the browser: the "Enable notifications" control (permission asked only on its
click), the service worker (/sw.js) showing a real push and opening the chat, unsubscribing on
logout, and the unread count in the title of a hidden tab.

Debian's Chromium has no push service, so the page's PushManager is replaced (init script) by
one that hands out a subscription of the test's own push service (support.push_service), on
loopback: the server's real, encrypted push lands there and is decrypted; its payload is then
delivered to the browser's service worker through the DevTools protocol
(ServiceWorker.deliverPushMessage), which is how the browser's push service would hand it over.
"""

import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from support.axe import assert_no_violations
from support.push_service import FakePushService
from support.rest import Account
from support.servers import LiveServer
from support.settings import TEST_VAPID_PUBLIC_KEY

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ENABLE = "Enable notifications"
BLOCKED = re.compile("blocked.*site settings", re.IGNORECASE)
WAIT_S = 10.0

# The page's PushManager, with the test's subscription; its state survives navigations
# (localStorage), as a browser's subscription would. Records the calls a test asserts on.
FAKE_PUSH = """(() => {
  const config = %s;
  const KEY = "test-fake-push";
  const load = () =>
    JSON.parse(localStorage.getItem(KEY) || "null") ||
    { subscribed: false, subscribes: 0, unsubscribes: 0, permissionRequests: 0, serverKey: null };
  const save = (state) => localStorage.setItem(KEY, JSON.stringify(state));
  const b64url = (bytes) =>
    btoa(String.fromCharCode(...bytes)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const subscription = () => ({
    endpoint: config.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: null },
    toJSON() {
      const keys = { p256dh: config.p256dh, auth: config.auth };
      return { endpoint: config.endpoint, expirationTime: null, keys };
    },
    async unsubscribe() {
      const state = load();
      state.subscribed = false;
      state.unsubscribes += 1;
      save(state);
      return true;
    },
  });
  PushManager.prototype.subscribe = async function (options) {
    const state = load();
    if (config.mode === "refuse") {
      throw new DOMException("Registration failed - push service not available", "AbortError");
    }
    const key = options && options.applicationServerKey;
    state.serverKey = key ? b64url(new Uint8Array(key.buffer || key)) : null;
    state.userVisibleOnly = Boolean(options && options.userVisibleOnly);
    state.subscribed = true;
    state.subscribes += 1;
    save(state);
    return subscription();
  };
  PushManager.prototype.getSubscription = async function () {
    return load().subscribed ? subscription() : null;
  };
  const ask = Notification.requestPermission.bind(Notification);
  Notification.requestPermission = function (...args) {
    const state = load();
    state.permissionRequests += 1;
    save(state);
    return ask(...args);
  };
})();"""

# The page hidden (headless Chromium never hides a page itself: not behind another tab,
# not in a minimised window), or shown again: what the browser does on a tab switch.
SET_HIDDEN = """(hidden) => {
  Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
  const state = hidden ? "hidden" : "visible";
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
  document.dispatchEvent(new Event("visibilitychange"));
}"""

NOTIFICATIONS = """async () => {
  const registration = await navigator.serviceWorker.getRegistration("/");
  const shown = registration ? await registration.getNotifications() : [];
  return shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
}"""


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def push_service() -> Iterator[FakePushService]:
    """The push service of the browser's subscriptions; it checks pushes against the server's key."""
    with FakePushService(vapid_public_key=TEST_VAPID_PUBLIC_KEY) as service:
        yield service


def assert_no_push(service: FakePushService, subscription: Any, seconds: float = 2.0) -> None:
    """Nothing reaches `subscription` within `seconds` (pushes are sent after the answer)."""
    time.sleep(seconds)
    assert service.to(subscription) == []


def wait_offline(live_server: LiveServer, since: int) -> None:
    """Wait until the server saw the page's socket go (its log line is written once the
    disconnect handler removed it from the registry): only then is the user pushed to."""
    deadline = time.monotonic() + WAIT_S
    while "GET /socket.io/" not in live_server.log(since):
        assert time.monotonic() < deadline, "the server did not see the socket close"
        time.sleep(0.05)


def origin_of(page: Page) -> str:
    parts = urlparse(page.url)
    return f"{parts.scheme}://{parts.netloc}"


def fake_push_script(subscription: Any, mode: str) -> str:
    """The init script of a PushManager that hands out `subscription` (or refuses: "refuse")."""
    config = {"mode": mode, **subscription.as_json()["keys"], "endpoint": subscription.endpoint}
    return FAKE_PUSH % json.dumps(config)


def browser_with_push(
    windows: Windows, live_server: LiveServer, subscription: Any, mode: str = "ok", **options: Any
) -> Page:
    """A window whose PushManager hands out `subscription`, with notifications allowed."""
    page = windows.open(**options)
    page.context.grant_permissions(["notifications"], origin=live_server.url)
    page.context.add_init_script(fake_push_script(subscription, mode))
    return page


def fake_state(page: Page) -> dict[str, Any]:
    """What the fake PushManager recorded (subscribes, unsubscribes, permission requests)."""
    return page.evaluate("() => JSON.parse(localStorage.getItem('test-fake-push') || 'null')") or {
        "subscribed": False,
        "subscribes": 0,
        "unsubscribes": 0,
        "permissionRequests": 0,
    }


def push_key(live_server: LiveServer, who: Account) -> str:
    response = live_server.request("GET", "/api/push/key", headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()["publicKey"]


def enable_notifications(page: Page) -> None:
    """Click the control; it ends "on" (the subscription posted)."""
    page.get_by_role("button", name=ENABLE).click()
    expect(page.locator("#notifications-toggle")).to_have_text("Notifications on")


def worker_registration(context: BrowserContext, page: Page) -> tuple[Any, str]:
    """A DevTools session with service workers on, and the id of the page's (activated) registration."""
    cdp = context.new_cdp_session(page)
    versions: list[dict[str, Any]] = []
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerVersionUpdated", lambda event: versions.extend(event["versions"]))
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"])
    )
    cdp.send("ServiceWorker.enable")
    origin = origin_of(page)
    for _ in range(int(WAIT_S * 10)):
        ours = [r for r in registrations if r["scopeURL"] == origin + "/" and not r["isDeleted"]]
        active = [v for v in versions if v["status"] == "activated"]
        if ours and any(v["registrationId"] == ours[-1]["registrationId"] for v in active):
            return cdp, ours[-1]["registrationId"]
        page.wait_for_timeout(100)
    raise AssertionError(f"no active service worker for {origin}/: {registrations} {versions}")


def deliver(cdp: Any, page: Page, registration_id: str, payload: dict[str, Any]) -> None:
    """Hand a push to the service worker, as the browser's push service would."""
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": origin_of(page), "registrationId": registration_id, "data": json.dumps(payload)},
    )


def notifications_shown(page: Page, count: int) -> list[dict[str, Any]]:
    """The notifications of the page's worker registration, once there are `count` of them."""
    for _ in range(int(WAIT_S * 10)):
        shown = page.evaluate(NOTIFICATIONS)
        if len(shown) >= count:
            return shown
        page.wait_for_timeout(100)
    raise AssertionError(f"expected {count} notification(s), got {page.evaluate(NOTIFICATIONS)}")


# --------------------------------------------------------------------------- tests


def test_enabling_notifications_subscribes_and_a_real_push_shows_and_opens_the_chat(
    live_server: LiveServer,
    windows: Windows,
    ui: Ui,
    pair: tuple[Account, Account, str],
    push_service: FakePushService,
) -> None:
    alice, bob, conversation_id = pair
    subscription = push_service.subscribe()
    page = browser_with_push(windows, live_server, subscription)
    ui.login(page, alice)
    ui.connected(page)
    button = page.get_by_role("button", name=ENABLE)
    expect(button).to_be_visible()
    page.wait_for_timeout(300)  # the page settled: still nothing asked
    assert fake_state(page)["permissionRequests"] == 0, "the page asked for permission before the click"

    enable_notifications(page)
    state = fake_state(page)
    assert state["permissionRequests"] == 1
    assert state["subscribes"] == 1
    assert state["userVisibleOnly"] is True
    assert state["serverKey"] == push_key(live_server, alice) == TEST_VAPID_PUBLIC_KEY

    # Alice closes the tab (no socket left): Bob's message reaches her subscription at the
    # push service, encrypted and signed by the server.
    context = page.context
    since = live_server.log_size()
    page.close()
    wait_offline(live_server, since)
    sent = live_server.sent(bob, conversation_id, "Are you there?")["message"]
    [delivery] = push_service.wait_for(1, timeout=WAIT_S)
    assert delivery.problem is None and delivery.status == 201, delivery
    assert delivery.endpoint == subscription.endpoint
    payload = delivery.payload
    assert payload is not None
    assert payload["type"] == "message"
    assert payload["conversationId"] == conversation_id
    assert payload["messageId"] == sent["id"]
    assert payload["senderName"] == "Bob"

    # That very payload, handed to the service worker, shows the notification. (A page of the
    # app is opened only to reach the worker through DevTools.)
    page = context.new_page()
    page.goto("/")
    ui.connected(page)
    cdp, registration_id = worker_registration(context, page)
    deliver(cdp, page, registration_id, payload)
    [shown] = notifications_shown(page, 1)
    assert shown["title"] == "New message from Bob"
    assert shown["tag"] == conversation_id
    assert shown["data"]["url"] == f"{live_server.url}/c/{conversation_id}"
    assert shown["body"] == (payload.get("content") or "Open the chat to read it.")

    # A second message of the chat replaces its notification (one per chat).
    deliver(cdp, page, registration_id, {**payload, "messageId": sent["id"][:-1] + "0", "content": "later"})
    for _ in range(int(WAIT_S * 10)):
        if [n["body"] for n in page.evaluate(NOTIFICATIONS)] == ["later"]:
            break
        page.wait_for_timeout(100)
    assert [n["body"] for n in page.evaluate(NOTIFICATIONS)] == ["later"]

    # The click (the worker's own handler code: a test cannot click a system notification)
    # shows the chat in the open window; the chat, looked at, closes its notification.
    [worker] = [w for w in context.service_workers if w.url == f"{live_server.url}/sw.js"]
    worker.evaluate("(url) => openChat(url).then(() => undefined)", shown["data"]["url"])
    page.wait_for_url(lambda url: urlparse(url).path == f"/c/{conversation_id}")
    expect(ui.message_with_text(page, "Are you there?")).to_be_visible()
    for _ in range(int(WAIT_S * 10)):
        if not page.evaluate(NOTIFICATIONS):
            break
        page.wait_for_timeout(100)
    assert page.evaluate(NOTIFICATIONS) == []

    # Only a chat of this origin opens: another origin or another path shows the list instead.
    for unsafe in (f"https://evil.example/c/{conversation_id}", "/c/../logout", "javascript:alert(1)"):
        worker.evaluate("(url) => openChat(url).then(() => undefined)", unsafe)
        page.wait_for_url(lambda url: urlparse(url).path == "/")
        assert urlparse(page.url).netloc == urlparse(live_server.url).netloc
        page.goto(f"/c/{conversation_id}")


def test_a_garbage_push_shows_a_generic_notification_and_no_link_elsewhere(
    live_server: LiveServer, windows: Windows, ui: Ui, push_service: FakePushService
) -> None:
    alice = live_server.account("alice", display_name="Alice")
    page = browser_with_push(windows, live_server, push_service.subscribe())
    ui.login(page, alice)
    enable_notifications(page)
    cdp, registration_id = worker_registration(page.context, page)
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": origin_of(page), "registrationId": registration_id, "data": "not json {"},
    )
    deliver(
        cdp, page, registration_id, {"type": "message", "conversationId": "../../logout", "senderName": "x"}
    )
    shown = notifications_shown(page, 1)
    assert {n["title"] for n in shown} == {"New message"}
    assert {n["data"]["url"] for n in shown} == {f"{live_server.url}/"}


def test_after_a_new_login_the_page_posts_the_subscription_again(
    live_server: LiveServer,
    windows: Windows,
    ui: Ui,
    pair: tuple[Account, Account, str],
    push_service: FakePushService,
) -> None:
    alice, bob, conversation_id = pair
    subscription = push_service.subscribe()
    page = browser_with_push(windows, live_server, subscription)
    ui.login(page, alice)
    posts: list[int] = []
    page.on(
        "response",
        lambda r: (
            posts.append(r.status)
            if r.url.endswith("/api/push/subscriptions") and r.request.method == "POST"
            else None
        ),
    )
    enable_notifications(page)
    assert posts == [201]

    # That login ends elsewhere (its token revoked): the server pushes nothing for it any more.
    [token] = [
        c["value"]
        for c in page.context.cookies()
        if "access" in c["name"].lower() and "csrf" not in c["name"].lower()
    ]
    since = live_server.log_size()
    page.goto("about:blank")
    wait_offline(live_server, since)
    ended = live_server.request("POST", "/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert ended.status_code in (200, 204), ended.text
    live_server.sent(bob, conversation_id, "while logged out")
    assert_no_push(push_service, subscription)

    # The next login in this browser posts the subscription again, silently (no new question),
    # and pushes reach it again.
    page.context.clear_cookies()
    posts.clear()
    ui.login(page, alice)
    expect(page.locator("#notifications-toggle")).to_have_text("Notifications on")
    assert posts in ([200], [201]), posts
    assert fake_state(page)["permissionRequests"] == 1
    since = live_server.log_size()
    page.goto("about:blank")
    wait_offline(live_server, since)
    sent = live_server.sent(bob, conversation_id, "reaching you again")["message"]
    [delivery] = push_service.wait_for(1, timeout=WAIT_S)
    assert delivery.payload is not None and delivery.payload["messageId"] == sent["id"]


def test_logging_out_unsubscribes_and_deletes_the_subscription(
    live_server: LiveServer,
    windows: Windows,
    ui: Ui,
    pair: tuple[Account, Account, str],
    push_service: FakePushService,
) -> None:
    alice, bob, conversation_id = pair
    subscription = push_service.subscribe()
    page = browser_with_push(windows, live_server, subscription)
    ui.login(page, alice)
    enable_notifications(page)
    deletes: list[int] = []
    page.on(
        "response",
        lambda r: (
            deletes.append(r.status)
            if r.url.endswith("/api/push/subscriptions") and r.request.method == "DELETE"
            else None
        ),
    )
    since = live_server.log_size()
    page.locator("form#logout-form button").click()
    page.wait_for_url(lambda url: urlparse(url).path == "/login")
    wait_offline(live_server, since)
    state = fake_state(page)
    assert state["unsubscribes"] == 1 and state["subscribed"] is False
    assert deletes == [204]
    # Alice is offline and has no subscription left: Bob's message pushes nothing.
    live_server.sent(bob, conversation_id, "nobody is told")
    assert_no_push(push_service, subscription)


def test_logging_out_is_not_held_up_by_a_failing_unsubscribe(
    live_server: LiveServer, windows: Windows, ui: Ui, push_service: FakePushService
) -> None:
    alice = live_server.account("alice", display_name="Alice")
    page = browser_with_push(windows, live_server, push_service.subscribe())
    ui.login(page, alice)
    enable_notifications(page)
    # The server never answers the DELETE: the logout goes on after at most ~3 s.
    page.route(
        "**/api/push/subscriptions",
        lambda route: None if route.request.method == "DELETE" else route.continue_(),
    )
    page.locator("form#logout-form button").click()
    page.wait_for_url(lambda url: urlparse(url).path == "/login", timeout=8_000)
    page.goto("/")
    assert urlparse(page.url).path == "/login"


def test_a_refused_subscription_or_a_blocked_permission_shows_a_clear_message(
    live_server: LiveServer, windows: Windows, ui: Ui, push_service: FakePushService
) -> None:
    alice = live_server.account("alice", display_name="Alice")
    # No push service in the browser: subscribe() rejects.
    page = browser_with_push(windows, live_server, push_service.subscribe(), mode="refuse")
    ui.login(page, alice)
    page.get_by_role("button", name=ENABLE).click()
    expect(page.locator("#notifications-status")).to_have_text(re.compile("no push service", re.IGNORECASE))
    expect(page.get_by_role("button", name=ENABLE)).to_be_visible()
    # Notifications blocked in the site settings.
    blocked = windows.open()
    blocked.context.add_init_script(
        "Object.defineProperty(Notification, 'permission', { get: () => 'denied' });"
        "Notification.requestPermission = async () => 'denied';"
    )
    ui.login(blocked, alice)
    expect(blocked.locator("#notifications-status")).to_have_text(BLOCKED)
    blocked.get_by_role("button", name=ENABLE).click()
    expect(blocked.locator("#notifications-status")).to_have_text(BLOCKED)


def test_turning_notifications_off_unsubscribes_and_deletes(
    live_server: LiveServer,
    windows: Windows,
    ui: Ui,
    pair: tuple[Account, Account, str],
    push_service: FakePushService,
) -> None:
    alice, bob, conversation_id = pair
    subscription = push_service.subscribe()
    page = browser_with_push(windows, live_server, subscription)
    ui.login(page, alice)
    enable_notifications(page)
    page.locator("#notifications-toggle").click()
    expect(page.get_by_role("button", name=ENABLE)).to_be_visible()
    assert fake_state(page)["unsubscribes"] == 1
    since = live_server.log_size()
    page.goto("about:blank")
    wait_offline(live_server, since)
    live_server.sent(bob, conversation_id, "not pushed")
    assert_no_push(push_service, subscription)


def test_the_control_passes_axe_off_and_on_in_light_and_dark(
    live_server: LiveServer, windows: Windows, ui: Ui, push_service: FakePushService
) -> None:
    alice = live_server.account("alice", display_name="Alice")
    for scheme in ("light", "dark"):
        subscription = push_service.subscribe()
        page = browser_with_push(windows, live_server, subscription, mode="refuse", color_scheme=scheme)
        ui.login(page, alice)
        ui.connected(page)
        expect(page.get_by_role("button", name=ENABLE)).to_be_visible()
        assert_no_violations(page, f"the notifications control, off ({scheme})")
        page.get_by_role("button", name=ENABLE).click()  # refused: the warning line shows
        expect(page.locator("#notifications-status")).not_to_be_empty()
        assert_no_violations(page, f"the notifications control, refused ({scheme})")
        page.evaluate("() => localStorage.removeItem('test-fake-push')")
        page.context.add_init_script(fake_push_script(subscription, "ok"))
        page.reload()
        enable_notifications(page)
        assert_no_violations(page, f"the notifications control, on ({scheme})")


def test_a_hidden_tab_counts_unread_messages_in_its_title(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, bob, conversation_id = pair
    carol = live_server.account("carol", display_name="Carol")
    other_chat = live_server.conversation(carol, alice)
    page = windows.open()
    ui.login(page, alice)
    ui.connected(page)
    expect(page).to_have_title("Messenger")
    live_server.sent(bob, conversation_id, "seen while visible")
    expect(ui.conversation_item(page, conversation_id)).to_contain_text("seen while visible")
    expect(page).to_have_title("Messenger")

    page.evaluate(SET_HIDDEN, True)
    live_server.sent(bob, conversation_id, "one")
    expect(page).to_have_title("(1) Messenger")
    live_server.sent(carol, other_chat, "two")
    live_server.sent(bob, conversation_id, "three")
    expect(page).to_have_title("(3) Messenger")
    live_server.sent(alice, conversation_id, "my own is not counted")
    expect(ui.conversation_item(page, conversation_id)).to_contain_text("my own is not counted")
    expect(page).to_have_title("(3) Messenger")
    # A muted chat's messages are not counted either.
    assert live_server.update_conversation(alice, other_chat, muted=True).status_code == 200
    expect(ui.conversation_item(page, other_chat).locator("[data-testid=muted-mark]")).to_be_visible()
    live_server.sent(carol, other_chat, "muted, not counted")
    expect(ui.conversation_item(page, other_chat)).to_contain_text("muted, not counted")
    expect(page).to_have_title("(3) Messenger")
    page.evaluate(SET_HIDDEN, False)
    expect(page).to_have_title("Messenger")

    # In a chat: the count goes in front of the chat's own title, and away again.
    ui.open_chat(page, conversation_id)
    expect(page).to_have_title(re.compile(r"^Bob \(@"))
    chat_title = page.title()
    page.evaluate(SET_HIDDEN, True)
    live_server.sent(bob, conversation_id, "while away")
    expect(page).to_have_title(f"(1) {chat_title}")
    page.evaluate(SET_HIDDEN, False)
    expect(page).to_have_title(chat_title)


def test_no_control_without_push_in_the_browser_or_on_the_server(
    live_server: LiveServer, windows: Windows, ui: Ui
) -> None:
    alice = live_server.account("alice", display_name="Alice")
    # The operator turned push off (PUSH_ENABLED=false): the key answers 404 push_disabled.
    # (The session's server has push on: its answer is replaced, as it would come.)
    page = windows.open()
    disabled = {"error": {"code": "push_disabled", "message": "Push notifications are turned off."}}
    keys: list[int] = []
    page.route("**/api/push/key", lambda route: (keys.append(1), route.fulfill(status=404, json=disabled)))
    ui.login(page, alice)
    ui.connected(page)
    expect(page.locator("[data-testid=current-user]")).to_be_visible()
    page.wait_for_timeout(500)
    assert keys, "the page did not ask for the key"
    expect(page.locator("#notifications-toggle")).to_be_hidden()
    expect(page.locator("#notifications-status")).to_be_empty()
    # A browser without the Push API: not even the key is asked for.
    bare = windows.open()
    bare.context.add_init_script("delete window.PushManager;")
    asked: list[str] = []
    bare.on("request", lambda request: asked.append(request.url) if "/api/push/" in request.url else None)
    ui.login(bare, alice)
    ui.connected(bare)
    bare.wait_for_timeout(500)
    expect(bare.locator("#notifications-toggle")).to_be_hidden()
    assert asked == []
    # Logging out still works as before there.
    bare.locator("form#logout-form button").click()
    bare.wait_for_url(lambda url: urlparse(url).path == "/login")


def test_the_service_worker_is_served_at_the_root_under_the_strict_policy(live_server: LiveServer) -> None:
    response = live_server.request("GET", "/sw.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["Cache-Control"] == "no-cache"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe" not in policy
    assert "function openChat(" in response.text
