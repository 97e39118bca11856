"""Message text is text, pages carry a strict CSP, the cookie is HttpOnly and posts need the CSRF header."""

import json
from typing import Any

import pytest
from playwright.sync_api import expect
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PAYLOAD = "<img src=x onerror=alert(1)>"
NAME_PAYLOAD = "<b>Bob</b><img src=y onerror=alert(2)>"

# A same-origin fetch, as a script injected into the page (or a careless one) would make it.
POST_WITHOUT_CSRF_HEADER = """
async ([path, body]) => {
  const response = await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'},
                                      body: JSON.stringify(body)});
  return {status: response.status, body: await response.text()};
}
"""
POST_WITH_HEADERS = """
async ([path, body, headers]) => {
  const response = await fetch(path, {method: 'POST',
                                      headers: {'Content-Type': 'application/json', ...headers},
                                      body: JSON.stringify(body)});
  return {status: response.status, body: await response.text()};
}
"""


def csp_directives(policy: str) -> dict[str, list[str]]:
    """`a b c; d e` -> {"a": ["b", "c"], "d": ["e"]}."""
    directives = {}
    for part in policy.split(";"):
        tokens = part.split()
        if tokens:
            directives.setdefault(tokens[0].lower(), tokens[1:])
    return directives


def test_html_in_a_message_or_a_display_name_is_shown_as_text_in_both_windows_and_never_runs(
    live_server: LiveServer, windows: Windows, ui: Ui
) -> None:
    alice = live_server.account("alice")
    bob = live_server.account("bob", display_name=NAME_PAYLOAD)
    conversation_id = live_server.conversation(alice, bob)
    alice_page, bob_page = windows.open(), windows.open()
    for page, account in ((alice_page, alice), (bob_page, bob)):
        ui.login(page, account)
        ui.open_chat(page, conversation_id)

    ui.send(alice_page, PAYLOAD)
    for page in (alice_page, bob_page):
        message = ui.messages(page).last
        expect(message.locator(".message-text")).to_have_text(PAYLOAD)
        assert message.locator(".message-text").text_content() == PAYLOAD
        assert page.locator("#messages img").count() == 0
    bob_page.goto("/")
    preview = ui.conversation_item(bob_page, conversation_id).locator(".conv-preview")
    expect(preview).to_contain_text(PAYLOAD)
    assert bob_page.locator("#conversation-list img").count() == 0

    # Bob's display name is HTML too: text in Alice's list, her page title and the search results.
    name = ui.conversation_item(alice_page, conversation_id).locator(".conv-name")
    expect(name).to_have_text(NAME_PAYLOAD)
    assert NAME_PAYLOAD in alice_page.title()
    alice_page.goto("/")
    alice_page.locator("#user-search").fill(bob.username)
    result = alice_page.locator(f'#user-results button[data-username="{bob.username}"]')
    expect(result).to_contain_text(NAME_PAYLOAD)
    assert alice_page.locator("body img, body b").count() == 0

    alice_page.wait_for_timeout(500)  # an onerror handler would have fired by now
    for page in (alice_page, bob_page):
        assert windows.of(page).dialogs == [], "a dialog opened: text ran as HTML"


def test_pages_send_a_csp_without_inline_scripts_nosniff_and_an_httponly_samesite_cookie(
    windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open()
    for path in ("/login", "/register", "/", f"/c/{conversation_id}"):
        if path == "/":
            ui.login(page, alice)
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        headers = response.headers
        assert headers.get("x-content-type-options") == "nosniff", path
        policy = headers.get("content-security-policy")
        assert policy, f"{path} has no Content-Security-Policy"
        directives = csp_directives(policy)
        scripts = directives.get("script-src", directives.get("default-src"))
        assert scripts is not None, f"{path}: the CSP does not restrict scripts: {policy}"
        assert "'unsafe-inline'" not in scripts, f"{path}: {policy}"
        assert directives.get("frame-ancestors") == ["'none'"], f"{path}: {policy}"

    cookies = page.context.cookies()
    access = [c for c in cookies if "access" in c["name"].lower() and "csrf" not in c["name"].lower()]
    assert len(access) == 1, f"expected one access cookie, got {[c['name'] for c in cookies]}"
    assert access[0]["httpOnly"] is True
    assert access[0]["sameSite"] in ("Lax", "Strict")


def test_a_post_from_the_page_without_the_csrf_header_is_refused_and_sends_nothing(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)

    forged = {"conversationId": conversation_id, "content": "forged"}
    answer = page.evaluate(POST_WITHOUT_CSRF_HEADER, ["/api/messages/send", forged])
    assert answer["status"] in (401, 403), answer
    assert "error" in json.loads(answer["body"])
    assert live_server.all_messages(alice, conversation_id) == []
    assert live_server.quota(alice)["messagesSentToday"] == 0
    expect(ui.message_with_text(page, "forged")).to_have_count(0)

    # The control: the same request with the double-submit header is the page's own send.
    csrf = [c["value"] for c in page.context.cookies() if "csrf" in c["name"].lower()]
    assert csrf, "no CSRF cookie was set at login"
    genuine = {"conversationId": conversation_id, "content": "genuine"}
    answer = page.evaluate(POST_WITH_HEADERS, ["/api/messages/send", genuine, {"X-CSRF-TOKEN": csrf[0]}])
    assert answer["status"] == 201, answer
    assert [m["content"] for m in live_server.all_messages(alice, conversation_id)] == ["genuine"]


XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "<svg onload=alert(3)>",
    '"><iframe src="javascript:alert(4)"></iframe>',
    '<a href="javascript:alert(5)">click</a>',
    "<details open ontoggle=alert(6)>",
    "</textarea><script>alert(7)</script>",
    "{{7*7}} ${alert(8)} `${alert(9)}`",
    "<style>@import 'x';</style><b onmouseover=alert(10)>hover</b>",
    "&lt;b&gt;entities stay entities&lt;/b&gt;",
]


def test_a_list_of_xss_payloads_is_stored_and_rendered_as_text_and_never_runs(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    for payload in XSS_PAYLOADS:
        live_server.sent(alice, conversation_id, payload)
    stored = [m["content"] for m in live_server.all_messages(bob, conversation_id)]
    assert stored[-len(XSS_PAYLOADS) :] == XSS_PAYLOADS  # stored exactly as sent
    page = windows.open()
    ui.login(page, bob)
    ui.open_chat(page, conversation_id)
    expect(ui.messages(page)).to_have_count(len(stored))
    shown = page.locator("#messages .message-text").all_text_contents()
    assert shown[-len(XSS_PAYLOADS) :] == XSS_PAYLOADS
    for tag in ("script", "img", "svg", "iframe", "a", "details", "style", "b"):
        assert page.locator(f"#messages {tag}").count() == 0, f"a <{tag}> element was created"
    page.locator("#messages .message-text").last.hover()
    page.wait_for_timeout(500)  # handlers would have fired by now
    assert windows.of(page).dialogs == [], "a dialog opened: text ran as HTML"
