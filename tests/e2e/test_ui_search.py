"""Search in the web UI: messages with their matches marked (as text, never HTML), people to
start a chat with, the keyboard, and a result that opens the chat at its message."""

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def search_box(page: Page) -> Any:
    return page.locator("input#user-search")


def message_results(page: Page) -> Any:
    return page.locator("#message-results a.message-result")


def test_search_marks_the_match_and_shows_message_html_as_text(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    live_server.sent(bob, conversation_id, "nothing to see here")
    sent = live_server.sent(bob, conversation_id, "Bring <b>x</b> to the Zebrafish meeting")
    live_server.sent(alice, conversation_id, "ok")
    page = windows.open()
    ui.login(page, alice)
    ui.connected(page)

    search_box(page).fill("zebrafi")  # the last word matches as a prefix
    results = message_results(page)
    expect(results).to_have_count(1)
    result = results.first
    expect(result).to_have_attribute("data-message-id", sent["message"]["id"])
    expect(result.locator("mark")).to_have_text(["Zebrafish"])
    expect(result.locator(".result-snippet")).to_have_text("Bring <b>x</b> to the Zebrafish meeting")
    expect(result.locator("b")).to_have_count(0)  # the message's markup is text, not HTML
    expect(result.locator(".result-name")).to_have_text("Bob")
    expect(result.locator(".result-username")).to_have_text(f"@{bob.username}")
    expect(result.locator("time")).to_have_attribute("datetime", sent["message"]["createdAt"])
    expect(page.locator("#messages-heading")).to_have_text("Messages")
    expect(page.locator("#search-status")).to_contain_text("1 message")

    # Too short for messages (people still searched), and a query without a word: the
    # server's own explanation, shown as a notice rather than an error.
    search_box(page).fill("z")
    expect(page.locator("#message-results .search-notice")).to_have_text(
        "Type at least 2 characters to search messages."
    )
    expect(page.locator("#people-group")).to_be_visible()
    search_box(page).fill("?!")
    answer = live_server.request("GET", "/api/search", params={"q": "?!"}, headers=alice.headers)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_query", answer.text
    expect(page.locator("#message-results .search-notice")).to_have_text(answer.json()["error"]["message"])
    expect(page.locator("#people-group")).to_be_hidden()  # not a username


def test_arrow_keys_and_enter_open_the_chat_at_a_message_200_back_highlighted_and_scrolling_loads_both_ways(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    total, target = 230, 21  # 209 newer messages than the one searched for
    live_server.grant(alice, 10 * (total - 40 + 1))  # and one live message at the end
    ids = {}
    for number in range(1, total + 1):
        sender = bob if number <= 20 else alice  # each has 20 free; alice pays for the rest
        text = f"message {number} the unicorn" if number == target else f"message {number}"
        ids[number] = live_server.sent(sender, conversation_id, text)["message"]["id"]

    page = windows.open()
    ui.login(page, bob)
    ui.connected(page)
    box = search_box(page)
    box.fill("unicorn")
    expect(message_results(page)).to_have_count(1)
    box.press("ArrowDown")
    expect(message_results(page).first).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(box).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")

    page.wait_for_url(lambda url: urlparse(url).path == f"/c/{conversation_id}")
    assert parse_qs(urlparse(page.url).query) == {"m": [ids[target]]}
    found = ui.message(page, ids[target])
    expect(found).to_be_in_viewport()
    expect(found).to_have_class(re.compile(r"\bhighlight\b"))
    expect(found.locator(".message-text")).to_have_text(f"message {target} the unicorn")
    shown = ui.messages(page).count()
    assert shown < total, "the chat loaded the whole history at once"
    expect(page.locator("#jump-latest")).to_be_visible()
    ui.connected(page)

    # Scrolling down loads the newer pages (with `after`), up to the newest message.
    for _ in range(15):
        if ui.messages(page).last.locator(".message-text").inner_text() == f"message {total}":
            break
        newest = ui.messages(page).last
        newest.scroll_into_view_if_needed()
        newest.hover()
        page.mouse.wheel(0, 3000)
        expect(ui.messages(page)).not_to_have_count(shown)
        shown = ui.messages(page).count()
    expect(ui.messages(page).last.locator(".message-text")).to_have_text(f"message {total}")
    expect(page.locator("#newer-state")).to_be_hidden()

    # ... and scrolling up the older ones, down to the first.
    for _ in range(15):
        if shown == total:
            break
        oldest = ui.messages(page).first
        oldest.scroll_into_view_if_needed()
        oldest.hover()
        page.mouse.wheel(0, -3000)
        expect(ui.messages(page)).not_to_have_count(shown)
        shown = ui.messages(page).count()
    texts = ui.messages(page).locator(".message-text").all_text_contents()
    expected = [f"message {n}" + (" the unicorn" if n == target else "") for n in range(1, total + 1)]
    assert texts == expected
    assert len(set(ui.message_ids(page))) == total

    # Once at the newest message, a live one appears as usual.
    live_server.sent(alice, conversation_id, "live after the search")
    expect(ui.message_with_text(page, "live after the search")).to_have_count(1)


def test_a_new_message_while_opened_in_the_middle_waits_and_sending_jumps_to_the_latest(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    live_server.grant(alice, 10 * 81)
    for number in range(1, 101):
        sender = bob if number <= 19 else alice  # Bob keeps a free message for his reply
        text = "the kiwi one" if number == 5 else f"message {number}"
        message = live_server.sent(sender, conversation_id, text)["message"]
        if number == 5:
            kiwi = message["id"]

    page = windows.open()
    ui.login(page, bob)
    ui.open_chat(page, conversation_id)
    page.goto(f"/c/{conversation_id}?m={kiwi}")
    expect(ui.message(page, kiwi)).to_be_in_viewport()
    ui.connected(page)
    live_server.sent(alice, conversation_id, "arrives while Bob reads old ones")
    ui.send(page, "my reply from the middle")
    expect(ui.message_with_text(page, "my reply from the middle")).to_be_in_viewport()
    expect(ui.message_with_text(page, "arrives while Bob reads old ones")).to_have_count(1)
    expect(page.locator("#newer-state")).to_be_hidden()
    texts = ui.messages(page).locator(".message-text").all_text_contents()
    assert texts[-3:] == ["message 100", "arrives while Bob reads old ones", "my reply from the middle"]


def test_more_results_pages_on_from_the_last_result_newest_first(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    for number in range(1, 26):  # more than one page of 20; each sender has 20 free
        live_server.sent(bob if number <= 12 else alice, conversation_id, f"walrus number {number}")
    page = windows.open()
    ui.login(page, alice)
    search_box(page).fill("walrus")
    results = message_results(page)
    expect(results).to_have_count(20)
    expect(results.first.locator(".result-snippet")).to_have_text("You: walrus number 25")
    more = page.locator("#more-results")
    expect(more).to_be_visible()
    expect(page.locator("#search-status")).to_contain_text("20 messages (more available)")
    more.focus()
    page.keyboard.press("Enter")
    expect(results).to_have_count(25)
    expect(more).to_be_hidden()
    expect(results.nth(20)).to_be_focused()
    texts = results.locator(".result-snippet").all_text_contents()
    assert [text.removeprefix("You: ") for text in texts] == [f"walrus number {n}" for n in range(25, 0, -1)]


def test_escape_clears_the_search_and_closes_the_results(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    live_server.sent(bob, conversation_id, "an armadillo walks in")
    page = windows.open()
    ui.login(page, alice)
    box = search_box(page)
    box.fill("armadillo")
    expect(message_results(page)).to_have_count(1)
    box.press("Escape")
    expect(box).to_have_value("")
    expect(page.locator("#search-results")).to_be_hidden()
    expect(box).to_be_focused()

    box.fill("armadillo")
    expect(message_results(page)).to_have_count(1)
    box.press("ArrowDown")
    expect(message_results(page).first).to_be_focused()
    page.keyboard.press("Escape")
    expect(box).to_be_focused()
    expect(box).to_have_value("")
    expect(page.locator("#search-results")).to_be_hidden()


def test_people_search_in_the_same_box_still_starts_a_chat_from_the_keyboard(
    live_server: LiveServer, windows: Windows, ui: Ui
) -> None:
    alice = live_server.account("alice", display_name="Alice")
    bob = live_server.account("bob", display_name="Bob")
    page = windows.open()
    ui.login(page, alice)
    box = search_box(page)
    box.fill(f"@{bob.username[:9]}")
    person = page.locator(f'#user-results button[data-username="{bob.username}"]')
    expect(person).to_be_visible()
    expect(page.locator("#people-heading")).to_have_text("People")
    expect(page.locator("#message-group")).to_be_visible()  # both groups show
    box.press("ArrowDown")
    expect(page.locator("#user-results button").first).to_be_focused()
    while not person.evaluate("element => element === document.activeElement"):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/c/[^/?]+$"))
    expect(page.locator("#chat-title")).to_contain_text(f"@{bob.username}")


def test_search_page_finds_messages_of_archived_chats_and_opens_them(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    sent = live_server.sent(bob, conversation_id, "the platypus report is done")
    response = live_server.request(
        "PATCH", f"/api/conversations/{conversation_id}", json={"archived": True}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    page = windows.open(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    ui.login(page, alice)
    page.goto("/search?q=platypus")
    expect(search_box(page)).to_have_value("platypus")
    expect(search_box(page)).to_be_in_viewport()
    result = message_results(page).first
    expect(result.locator(".result-name")).to_have_text("Bob")
    expect(result.locator("mark")).to_have_text(["platypus"])
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    result.click()
    page.wait_for_url(lambda url: urlparse(url).path == f"/c/{conversation_id}")
    expect(ui.message(page, sent["message"]["id"])).to_have_class(re.compile(r"\bhighlight\b"))
    expect(page.locator("#chat-archive")).to_have_text("Unarchive")
