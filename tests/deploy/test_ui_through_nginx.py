"""The web UI in Chromium through the deployment: nginx's TLS, HTTP/2, static files, the
socket.io client and the service worker from nginx, and the websocket through nginx.

Chromium trusts the test certificate by its public key (--ignore-certificate-errors-spki-list):
the site is a secure origin to it, as with a real certificate, so the service worker
registers. Both windows come from 127.0.0.1 (Chromium cannot choose its source address), so
nginx sends both to one process; test_nginx_tls.py proves the delivery across processes.

The features of issues 13 and 14 as people use them there, on PostgreSQL under gunicorn:
attachments (a thumbnail, the full image and a PDF through nginx), search that opens the chat
at the message, archive from the list's row menu, and the chat's disappearing timer. The
steps and selectors are tests/e2e's (its `Ui` and the helpers of its test modules).
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
from deploy_harness import Deployment, HttpsClient
from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, Ui
from e2e.test_ui_archive import archived_entry, row_action
from e2e.test_ui_attachments import attach, chips
from e2e.test_ui_search import message_results, search_box
from playwright.sync_api import Browser, Page, Playwright, Response, WebSocket, expect
from support.pytest_live import fail_or_skip
from support.rest import Account, unique_name
from support.uploads import image_bytes, pdf_bytes

pytestmark = [pytest.mark.server, pytest.mark.e2e, pytest.mark.xdist_group("deploy")]

# What the browser fetches that nginx serves itself: the app's access log must not show them.
SERVED_BY_NGINX = re.compile(r'"GET /(static/|vendor/|sw\.js)')


def spki_hash(certificate_pem: bytes) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of a certificate: what Chromium's
    --ignore-certificate-errors-spki-list takes."""
    key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def browser(deployment: Deployment, playwright_driver: Playwright) -> Iterator[Browser]:
    """Headless system Chromium that trusts the deployment's certificate (launched by the
    session's one Playwright, which the browser tests in tests/e2e share)."""
    if not os.access(CHROMIUM, os.X_OK):
        fail_or_skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    trust = f"--ignore-certificate-errors-spki-list={spki_hash(deployment.certificates.cert.read_bytes())}"
    try:
        instance = playwright_driver.chromium.launch(
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


def two_people(
    site: Deployment, open_window: Any
) -> tuple[HttpsClient, Account, Account, str, Window, Window]:
    """New Alice and Bob (over REST, through nginx), their chat, and a logged-in window each."""
    client = site.client()
    alice, bob = client.account("alice", display_name="Alice"), client.account("bob", display_name="Bob")
    chat = client.conversation(alice, bob)
    alice_window, bob_window = open_window(), open_window()
    log_in(alice_window, alice)
    log_in(bob_window, bob)
    return client, alice, bob, chat, alice_window, bob_window


def test_attachments_reach_the_other_person_and_search_opens_the_chat_at_the_message(
    site: Deployment, open_window: Any
) -> None:
    client, _alice, bob, chat, alice_window, bob_window = two_people(site, open_window)
    ui = Ui(site)  # its steps only use the page
    for window in (alice_window, bob_window):
        open_chat(window, chat)
    alice_page, bob_page = alice_window.page, bob_window.page

    # (a) Alice attaches an image and a PDF with the file input, and sends them with a text.
    photo, document = image_bytes("PNG", (400, 300)), pdf_bytes()
    attach(alice_page, "pelican.png", photo, "image/png")
    attach(alice_page, "report.pdf", document, "application/pdf")
    expect(chips(alice_page)).to_have_count(2)
    for index in range(2):
        expect(chips(alice_page).nth(index)).to_have_attribute("data-state", "done")
    text = "Photos of the pelican and the trip report"
    ui.send(alice_page, text)
    expect(chips(alice_page)).to_have_count(0)
    bubble = ui.message_with_text(bob_page, text)
    expect(bubble).to_have_count(1)  # the send has landed

    [stored] = client.all_messages(bob, chat)
    assert stored["content"] == text
    image_attachment, pdf_attachment = stored["attachments"]
    assert (image_attachment["filename"], pdf_attachment["filename"]) == ("pelican.png", "report.pdf")
    thumbnail = bubble.locator(".message-attachments a.attachment-image img")
    expect(thumbnail).to_have_attribute("alt", "pelican.png")
    expect(thumbnail).to_have_attribute("src", f"/api/attachments/{image_attachment['id']}/thumbnail")
    bob_page.wait_for_function(
        "(img) => img.complete && img.naturalWidth === 320 && img.naturalHeight === 240",
        arg=thumbnail.element_handle(),
    )
    card = bubble.locator("a.attachment-file")
    expect(card.locator(".attachment-name")).to_have_text("report.pdf")
    expect(card.locator(".attachment-details")).to_have_text(re.compile(r"^\d+(\.\d)? (KB|bytes) · PDF$"))

    # The full-size image opens in a new tab, from the app through nginx.
    full_url = f"{site.https_url}/api/attachments/{image_attachment['id']}"
    link = bubble.locator("a.attachment-image")
    with (
        bob_page.context.expect_event("response", lambda response: response.url == full_url) as answered,
        bob_page.context.expect_page() as opened,
    ):
        link.click()
    answer: Response = answered.value
    assert answer.status == 200, answer.status
    assert answer.headers["content-type"].startswith("image/"), answer.headers
    assert len(answer.body()) > 0
    full = opened.value
    full.wait_for_load_state()
    assert full.url == full_url
    full.close()
    # ... and the PDF chip downloads it.
    with bob_page.expect_download() as downloading:
        card.click()
    assert downloading.value.suggested_filename == "report.pdf"
    assert downloading.value.failure() is None
    assert downloading.value.path().read_bytes() == document

    # (b) Bob finds it with the search box, the match marked; Enter opens the chat at it.
    box = search_box(bob_page)
    box.fill("pelican")
    results = message_results(bob_page)
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-message-id", stored["id"])
    expect(results.first.locator("mark")).to_have_text(["pelican"])
    box.press("ArrowDown")
    expect(results.first).to_be_focused()
    bob_page.keyboard.press("Enter")
    bob_page.wait_for_url(lambda url: urlparse(url).path == f"/c/{chat}" and f"m={stored['id']}" in url)
    found = ui.message(bob_page, stored["id"])
    expect(found).to_be_in_viewport()
    expect(found).to_have_class(re.compile(r"\bhighlight\b"))
    expect(found.locator("a.attachment-image img")).to_have_attribute("alt", "pelican.png")
    ui.connected(bob_page)

    for window in (alice_window, bob_window):
        assert not window.errors, window.errors


def test_archive_from_the_row_menu_a_new_message_brings_it_back_and_the_timer_shows_to_the_other(
    site: Deployment, open_window: Any
) -> None:
    client, _alice, bob, chat, alice_window, bob_window = two_people(site, open_window)
    ui = Ui(site)
    alice_page, bob_page = alice_window.page, bob_window.page
    open_chat(alice_window, chat)
    ui.connected(bob_page)  # Bob stays on the list

    # (c) Alice's first message puts the chat in Bob's list; he archives it from the row's menu.
    ui.send(alice_page, "hello Bob")
    item = ui.conversation_item(bob_page, chat)
    expect(item.locator(".conv-preview")).to_have_text("hello Bob")
    expect(archived_entry(bob_page)).to_be_hidden()
    row_action(bob_page, item, "Archive")
    expect(item).to_have_count(0)
    expect(archived_entry(bob_page)).to_contain_text("Archived (1)")
    conversation = client.update_conversation(bob, chat)  # no change: how the server keeps it
    assert conversation.status_code == 200, conversation.text
    assert conversation.json()["conversation"]["archived"] is True

    # Alice's next message brings it back to the main list.
    ui.send(alice_page, "are you there?")
    expect(item).to_be_visible()
    expect(item.locator(".conv-preview")).to_have_text("are you there?")
    expect(archived_entry(bob_page)).to_be_hidden()

    # (d) Bob opens the chat; Alice sets its timer in her chat header, and Bob's header shows it.
    item.locator("a").click()
    bob_page.wait_for_url(lambda url: urlparse(url).path == f"/c/{chat}")
    ui.connected(bob_page)
    bob_status = bob_page.locator("#chat-timer-status")
    expect(bob_status).to_have_text("Disappearing messages: off")
    alice_page.get_by_label("Timer", exact=True).select_option("8")
    expect(alice_page.locator("#chat-timer-status")).to_have_text(
        "Disappearing messages: 8 hours · set by you"
    )
    expect(bob_status).to_have_text(re.compile(r"^Disappearing messages: 8 hours · set by Alice @alice_"))
    expect(bob_page.locator("select#chat-timer")).to_have_value("8")
    expect(bob_page.locator("select#expiration option").first).to_have_text("Chat timer (8 hours)")

    for window in (alice_window, bob_window):
        assert not window.errors, window.errors
