"""Attachments in the web UI: attach (button, drop, paste) with a progress chip, send, a thumbnail
that opens the full image, a file chip that downloads, a refused file's reason on its chip, and
an expiring attachment that goes with its bubble."""

import base64
import io
import os
import re
import shutil
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, Response, expect
from support.pytest_live import fail_or_skip
from support.rest import Account
from support.servers import LiveServer
from support.uploads import pdf_bytes

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

HTML_AS_PNG = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n"


def png(size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
    """A PNG; with `noise` it hardly compresses (an upload that takes a while on a slow link)."""
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (30, 140, 90))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def open_pair(
    windows: Windows, ui: Ui, pair: tuple[Account, Account, str], clock: bool = False
) -> tuple[Page, Page]:
    alice, bob, conversation_id = pair
    pages = []
    for account in (alice, bob):
        page = windows.open()
        if clock:
            page.clock.install()  # a fake clock that runs at real speed until we jump it forward
        ui.login(page, account)
        ui.open_chat(page, conversation_id)
        pages.append(page)
    return pages[0], pages[1]


class InFlight:
    """Counts a page's HTTP requests still waiting for their answer (closing a page in the
    middle of one breaks the server's write: a traceback in its log)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.open: set[Any] = set()
        page.on("request", lambda request: self.open.add(request))
        page.on("requestfinished", lambda request: self.open.discard(request))
        page.on("requestfailed", lambda request: self.open.discard(request))

    def close_when_quiet(self, quiet_ms: int = 1000, limit_ms: int = 15_000) -> None:
        """Close the page once no request was open for `quiet_ms`."""
        quiet = waited = 0
        while quiet < quiet_ms and waited < limit_ms:
            self.page.wait_for_timeout(100)
            waited += 100
            quiet = 0 if self.open else quiet + 100
        self.page.close()


def chips(page: Page) -> Any:
    return page.locator("#attachment-tray li.upload-chip")


def attach(page: Page, name: str, data: bytes, mime: str) -> None:
    """Pick a file with the (hidden) file input behind the Attach button."""
    page.set_input_files("#attach-input", files=[{"name": name, "mimeType": mime, "buffer": data}])


def throttle_uploads(page: Page, bytes_per_second: int) -> Any:
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_second},
    )
    return session


def unthrottle(session: Any) -> None:
    session.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )


def file_in_page(page: Page, name: str, data: bytes, mime: str) -> None:
    """window.testFile: a File made in the page from the bytes (for drop and paste events)."""
    page.evaluate(
        """([name, encoded, mime]) => {
            const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
            window.testFile = new File([bytes], name, { type: mime });
        }""",
        [name, base64.b64encode(data).decode(), mime],
    )


def test_an_image_attached_with_the_button_shows_progress_reaches_the_other_window_and_opens_full_size(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    _alice, bob, conversation_id = pair
    alice_page, bob_page = open_pair(windows, ui, pair)
    button = alice_page.get_by_role("button", name="Attach files")
    expect(button).to_be_visible()

    photo = png((400, 300), noise=True)  # ~360 KB: a couple of seconds at 150 KB/s
    session = throttle_uploads(alice_page, 150 * 1024)
    attach(alice_page, "holiday.png", photo, "image/png")
    chip = chips(alice_page)
    expect(chip).to_have_count(1)
    expect(chip).to_have_attribute("data-state", "uploading")
    expect(chip.locator(".upload-name")).to_have_text("holiday.png")
    expect(chip.locator(".upload-size")).to_have_text(re.compile(r"^\d+ KB$"))
    expect(chip.locator("progress.upload-progress")).to_be_visible()
    alice_page.wait_for_function(
        "() => { const p = document.querySelector('#attachment-tray progress'); return p && p.value > 0; }"
    )
    alice_page.locator("textarea#message-input").press("Enter")  # too early: it waits for the upload
    expect(alice_page.locator("#composer-error")).to_contain_text("Wait until the files are uploaded")
    expect(chip).to_have_attribute("data-state", "done", timeout=30_000)
    expect(chip.locator("progress.upload-progress")).to_be_hidden()
    unthrottle(session)

    ui.send(alice_page, "look at this")
    expect(chips(alice_page)).to_have_count(0)
    expect(alice_page.locator("#composer-error")).to_be_hidden()
    for page in (alice_page, bob_page):
        bubble = ui.message_with_text(page, "look at this")
        expect(bubble).to_have_count(1)
        image = bubble.locator(".message-attachments a.attachment-image img")
        expect(image).to_have_attribute("alt", "holiday.png")
        expect(image).to_have_attribute("src", re.compile(r"^/api/attachments/[^/]+/thumbnail$"))
        expect(image).to_have_attribute("width", "320")
        expect(image).to_have_attribute("height", "240")
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth === 320 && img.naturalHeight === 240",
            arg=image.element_handle(),
        )

    stored = live_server.all_messages(bob, conversation_id)
    assert [m["content"] for m in stored] == ["look at this"]
    [attachment] = stored[0]["attachments"]
    assert attachment["filename"] == "holiday.png"
    assert (attachment["width"], attachment["height"]) == (400, 300)

    link = ui.message_with_text(bob_page, "look at this").locator("a.attachment-image")
    expect(link).to_have_attribute("href", f"/api/attachments/{attachment['id']}")
    expect(link).to_have_attribute("target", "_blank")
    responses: list[Response] = []
    bob_page.context.on("response", lambda response: responses.append(response))
    with bob_page.context.expect_page() as opened:
        link.click()
    full = opened.value
    full.wait_for_load_state()
    assert full.url.endswith(f"/api/attachments/{attachment['id']}")
    [answer] = [r for r in responses if r.url == full.url]
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("image/")
    full.close()


def test_a_pdf_shows_as_a_chip_with_name_size_and_type_and_its_link_downloads(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    _alice, bob, conversation_id = pair
    alice_page, bob_page = open_pair(windows, ui, pair)
    document = pdf_bytes()
    attach(alice_page, "report.pdf", document, "application/pdf")
    expect(chips(alice_page)).to_have_attribute("data-state", "done")
    alice_page.locator("textarea#message-input").press("Enter")  # no text: the file alone is the message
    expect(ui.messages(bob_page).locator("a.attachment-file")).to_have_count(1)  # the send has landed

    [stored] = live_server.all_messages(bob, conversation_id)
    assert stored["content"] == ""
    assert [a["filename"] for a in stored["attachments"]] == ["report.pdf"]
    for page in (alice_page, bob_page):
        card = ui.messages(page).locator("a.attachment-file")
        expect(card).to_have_count(1)
        expect(card.locator(".attachment-name")).to_have_text("report.pdf")
        expect(card.locator(".attachment-details")).to_have_text(re.compile(r"^\d+(\.\d)? (KB|bytes) · PDF$"))
        expect(card).to_have_attribute("href", f"/api/attachments/{stored['attachments'][0]['id']}")

    # The conversation list says what a message without text carries.
    expect(ui.conversation_item(bob_page, conversation_id)).to_contain_text("File: report.pdf")

    card = ui.messages(bob_page).locator("a.attachment-file")
    with bob_page.expect_download() as downloading:
        card.click()
    assert downloading.value.suggested_filename == "report.pdf"
    answer = bob_page.request.get(card.get_attribute("href") or "")
    assert answer.status == 200
    assert answer.headers["content-disposition"].startswith("attachment")
    assert answer.body() == document


def test_a_dropped_file_and_a_pasted_image_each_add_an_upload_and_go_in_one_message(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    _alice, bob, conversation_id = pair
    alice_page, bob_page = open_pair(windows, ui, pair)

    file_in_page(alice_page, "dropped.png", png((40, 30)), "image/png")
    alice_page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(window.testFile);
            const target = document.getElementById("message-scroller");
            for (const type of ["dragenter", "dragover", "drop"]) {
                const options = { dataTransfer: data, bubbles: true, cancelable: true };
                target.dispatchEvent(new DragEvent(type, options));
            }
        }"""
    )
    expect(chips(alice_page)).to_have_count(1)
    expect(chips(alice_page).first.locator(".upload-name")).to_have_text("dropped.png")

    file_in_page(alice_page, "image.png", png((50, 20)), "image/png")
    alice_page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(window.testFile);
            const box = document.getElementById("message-input");
            box.focus();
            const options = { clipboardData: data, bubbles: true, cancelable: true };
            box.dispatchEvent(new ClipboardEvent("paste", options));
        }"""
    )
    expect(chips(alice_page)).to_have_count(2)
    expect(chips(alice_page).nth(1).locator(".upload-name")).to_have_text("image.png")
    # The file was pasted, not its name.
    expect(alice_page.locator("textarea#message-input")).to_have_value("")
    for index in range(2):
        expect(chips(alice_page).nth(index)).to_have_attribute("data-state", "done")

    ui.send(alice_page, "two pictures")
    bubble = ui.message_with_text(bob_page, "two pictures")
    expect(bubble.locator("a.attachment-image img")).to_have_count(2)
    expect(bubble.locator("a.attachment-image img").nth(0)).to_have_attribute("alt", "dropped.png")
    expect(bubble.locator("a.attachment-image img").nth(1)).to_have_attribute("alt", "image.png")
    [stored] = live_server.all_messages(bob, conversation_id)
    assert [a["filename"] for a in stored["attachments"]] == ["dropped.png", "image.png"]


def test_a_refused_file_shows_the_servers_message_on_its_chip_and_is_not_sent(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, bob, conversation_id = pair
    refused = live_server.request(
        "POST",
        "/api/attachments",
        files={"file": ("page.png", HTML_AS_PNG, "image/png")},
        headers=alice.headers,
    )
    assert refused.status_code == 415, refused.text
    reason = refused.json()["error"]["message"]

    alice_page, bob_page = open_pair(windows, ui, pair)
    attach(alice_page, "page.png", HTML_AS_PNG, "image/png")
    chip = chips(alice_page)
    expect(chip).to_have_attribute("data-state", "error")
    expect(chip.locator(".upload-error")).to_have_text(reason)
    expect(chip.locator(".upload-error")).to_have_attribute("role", "alert")

    alice_page.locator("textarea#message-input").press("Enter")  # a refused file is nothing to send
    expect(alice_page.locator("#composer-error")).to_have_text("Write something first.")

    ui.send(alice_page, "text only")
    expect(ui.message_with_text(bob_page, "text only")).to_have_count(1)
    expect(ui.message_with_text(bob_page, "text only").locator(".message-attachments")).to_have_count(0)
    [stored] = live_server.all_messages(bob, conversation_id)
    assert stored["attachments"] == []

    # The refused file stays with its reason (nothing went with it) until it is removed.
    expect(chips(alice_page)).to_have_count(1)
    expect(chip.locator(".upload-error")).to_have_text(reason)
    alice_page.get_by_role("button", name="Remove page.png").click()
    expect(chips(alice_page)).to_have_count(0)
    expect(alice_page.locator("#attachment-tray")).to_be_hidden()
    expect(alice_page.locator("textarea#message-input")).to_be_focused()


def test_an_expiring_attachment_vanishes_with_its_bubble_from_both_windows_and_then_answers_404(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    if shutil.which("faketime") is None:
        fail_or_skip("libfaketime is not installed (apt-get install -y faketime)")
    alice, bob, conversation_id = pair
    alice_page, bob_page = open_pair(windows, ui, pair, clock=True)
    in_flight = [InFlight(alice_page), InFlight(bob_page)]

    alice_page.locator("select#expiration").select_option("1")
    attach(alice_page, "fleeting.png", png(), "image/png")
    expect(chips(alice_page)).to_have_attribute("data-state", "done")
    ui.send(alice_page, "gone in an hour")
    for page in (alice_page, bob_page):
        bubble = ui.message_with_text(page, "gone in an hour")
        expect(bubble.locator(".expiry-mark")).to_be_visible()
        expect(bubble.locator("a.attachment-image img")).to_have_attribute("alt", "fleeting.png")
    # A later message that stays, so the chat's last message does not expire: the list reloads
    # at its expiry, in a loop while the browser's clock is ahead of the server's (conversations.js).
    alice_page.locator("select#expiration").select_option("off")
    ui.send(alice_page, "this one stays")
    expect(ui.message_with_text(bob_page, "this one stays")).to_have_count(1)
    stored, _stays = live_server.all_messages(bob, conversation_id)
    attachment_id = stored["attachments"][0]["id"]
    before = live_server.request("GET", f"/api/attachments/{attachment_id}", headers=bob.headers)
    assert before.status_code == 200

    for page in (alice_page, bob_page):
        page.clock.fast_forward("01:00:05")
    for page in (alice_page, bob_page):
        expect(ui.message_with_text(page, "gone in an hour")).to_have_count(0)
        expect(page.locator(f'[data-attachment-id="{attachment_id}"]')).to_have_count(0)
        expect(page.locator(f'img[src*="{attachment_id}"]')).to_have_count(0)
        expect(ui.message_with_text(page, "this one stays")).to_have_count(1)

    # No page may reconnect to the restarted server (its tokens would be past their time).
    for requests in in_flight:
        requests.close_when_quiet()
    live_server.restart(clock_offset="+2h")  # libfaketime; the next test gets the real clock back
    try:
        for who in (alice, bob):
            fresh = live_server.logged_in(who.username)
            for suffix in ("", "/thumbnail"):
                url = f"/api/attachments/{attachment_id}{suffix}"
                answer = live_server.request("GET", url, headers=fresh.headers)
                assert answer.status_code == 404, (who.username, suffix, answer.text)
    finally:
        live_server.restart()
