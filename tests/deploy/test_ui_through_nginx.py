"""The web UI in Chromium through the deployment: nginx's TLS, HTTP/2, static files, the
socket.io client and the service worker from nginx, and the websocket through nginx.

Chromium trusts the test certificate by its public key (--ignore-certificate-errors-spki-list):
the site is a secure origin to it, as with a real certificate, so the service worker
registers. Both windows come from 127.0.0.1 (Chromium cannot choose its source address), so
nginx sends both to one process; test_nginx_tls.py proves the delivery across processes.
"""

import base64
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from deploy_harness import Deployment
from playwright.sync_api import Browser, Page, WebSocket, expect, sync_playwright
from support.pytest_live import fail_or_skip
from support.rest import Account, unique_name

pytestmark = [pytest.mark.server, pytest.mark.e2e, pytest.mark.xdist_group("deploy")]

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")  # as tests/e2e: Debian's, no downloads
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 10_000
# What the browser fetches that nginx serves itself: the app's access log must not show them.
SERVED_BY_NGINX = re.compile(r'"GET /(static/|vendor/|sw\.js)')

expect.set_options(timeout=WAIT_MS)  # as tests/e2e/conftest.py


def spki_hash(certificate_pem: bytes) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of a certificate: what Chromium's
    --ignore-certificate-errors-spki-list takes."""
    key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def browser(deployment: Deployment) -> Iterator[Browser]:
    """Headless system Chromium that trusts the deployment's certificate."""
    if not os.access(CHROMIUM, os.X_OK):
        fail_or_skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    trust = f"--ignore-certificate-errors-spki-list={spki_hash(deployment.certificates.cert.read_bytes())}"
    with sync_playwright() as driver:
        try:
            instance = driver.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, trust], timeout=30_000
            )
        except Exception as error:  # a browser that cannot start is as good as none
            fail_or_skip(f"Chromium at {CHROMIUM} did not start: {error}")
        yield instance
        instance.close()


@dataclass
class Window:
    """One person's browser window, with what it saw besides the DOM."""

    page: Page
    websockets: list[WebSocket] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)  # text frames received on its websockets
    errors: list[str] = field(default_factory=list)  # uncaught JavaScript errors


@pytest.fixture
def open_window(browser: Browser, site: Deployment) -> Iterator[Any]:
    """Opens windows (a context each: cookies of their own) on the site; closes them after."""
    contexts = []

    def opened() -> Window:
        context = browser.new_context(base_url=site.https_url, locale="en-US")
        context.set_default_timeout(WAIT_MS)
        context.set_default_navigation_timeout(WAIT_MS)
        contexts.append(context)
        window = Window(context.new_page())

        def on_websocket(websocket: WebSocket) -> None:
            window.websockets.append(websocket)
            websocket.on(
                "framereceived",
                lambda payload: window.frames.append(payload if isinstance(payload, str) else ""),
            )

        window.page.on("websocket", on_websocket)
        window.page.on("pageerror", lambda error: window.errors.append(str(error)))
        return window

    yield opened
    for context in contexts:
        context.close()


def log_in(window: Window, who: Account) -> None:
    """The login form over HTTPS; ends on the conversation list."""
    page = window.page
    page.goto("/login")
    form = page.locator("form#login-form")
    form.locator("#username").fill(who.username)
    form.locator("#password").fill(who.password)
    form.locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_url(lambda url: urlparse(url).path == "/")
    expect(page.locator("[data-testid=current-user]")).to_contain_text(who.username)


def open_chat(window: Window, chat: str) -> None:
    """The chat's page, its socket connected."""
    window.page.goto(f"/c/{chat}")
    expect(window.page.locator("ol#messages")).to_be_attached()
    expect(window.page.locator("#connection-state")).to_have_attribute("data-state", "connected")


def test_two_people_chat_in_chromium_over_https_and_a_websocket_through_nginx(
    site: Deployment, open_window: Any
) -> None:
    client = site.client()
    alice, bob = client.account("alice", display_name="Alice"), client.account("bob", display_name="Bob")
    chat = client.conversation(alice, bob)
    since = {server.label: server.log_size() for server in site.servers}

    alice_window, bob_window = open_window(), open_window()
    for window, who in ((alice_window, alice), (bob_window, bob)):
        log_in(window, who)
        open_chat(window, chat)
        # The page itself came over TLS with HTTP/2 (nginx's `listen ... ssl http2`).
        protocol = window.page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol")
        assert protocol == "h2", protocol
        socket_urls = [w.url for w in window.websockets if not w.is_closed()]
        assert any(url.startswith(f"wss://localhost:{site.https_port}/socket.io/") for url in socket_urls), (
            who.username,
            [w.url for w in window.websockets],
        )

    text = f"through nginx {unique_name('m')}"
    box = alice_window.page.locator("textarea#message-input")
    box.fill(text)
    box.press("Enter")
    exact = re.compile("^" + re.escape(text) + "$")
    for window in (alice_window, bob_window):
        shown = window.page.locator("ol#messages li.message").filter(
            has=window.page.locator(".message-text", has_text=exact)
        )
        expect(shown).to_have_count(1)
    # Bob's page learned of it from its websocket through nginx (not a reload or a poll).
    assert any(text in frame and "message:new" in frame for frame in bob_window.frames), bob_window.frames[
        -5:
    ]
    assert bob_window.page.evaluate("performance.getEntriesByType('navigation').length") == 1

    # The push service worker registers from nginx's /sw.js (a secure origin, the script's
    # type and CSP accepted) with the whole site as its scope.
    scope = bob_window.page.evaluate(
        """async () => {
            await navigator.serviceWorker.register("/sw.js", {scope: "/"});
            const ready = await navigator.serviceWorker.ready;
            return [ready.scope, ready.active.scriptURL];
        }"""
    )
    assert scope == [f"{site.https_url}/", f"{site.https_url}/sw.js"], scope

    for window in (alice_window, bob_window):
        assert not window.errors, window.errors
    for server in site.servers:
        fetched = [
            line for line in server.log(since[server.label]).splitlines() if SERVED_BY_NGINX.search(line)
        ]
        assert not fetched, f"{server.label} served what nginx should: {fetched[:5]}"
    assert any(server.log(since[server.label]).count("POST /api/messages/send") for server in site.servers)
