"""The rest of the chat's contract: composer keys, counter, expiration picker, typing, older messages."""

import re
from datetime import datetime
from typing import Any

import pytest
from playwright.sync_api import expect
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_composer_counts_characters_and_shift_enter_adds_a_line_while_enter_sends(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    box = page.locator("textarea#message-input")
    counter = page.locator("#char-counter")
    expect(counter).to_have_text(re.compile(r"^\s*0\s*/\s*5000\s*$"))

    box.press_sequentially("line one")
    expect(counter).to_have_text(re.compile(r"^\s*8\s*/\s*5000\s*$"))
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    expect(box).to_have_value("line one\nline two")
    expect(counter).to_have_text(re.compile(r"^\s*17\s*/\s*5000\s*$"))
    assert ui.messages(page).count() == 0

    box.press("Enter")
    expect(ui.messages(page)).to_have_count(1)
    assert ui.messages(page).first.locator(".message-text").text_content() == "line one\nline two"
    expect(box).to_have_value("")
    expect(counter).to_have_text(re.compile(r"^\s*0\s*/\s*5000\s*$"))
    expect(ui.messages(page).first).to_have_attribute("data-message-id", re.compile(r"\S"))  # stored
    assert [m["content"] for m in live_server.all_messages(alice, conversation_id)] == ["line one\nline two"]


def test_expiration_picker_offers_the_contract_choices_and_custom_hours_set_expires_at(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    picker = page.locator("select#expiration")
    values = picker.locator("option").evaluate_all("options => options.map(o => o.value)")
    assert values == ["", "off", "1", "8", "24", "168", "custom"]  # "": the chat's timer
    expect(picker).to_have_value("")
    expect(page.locator("input#custom-hours")).to_be_hidden()

    picker.select_option("custom")
    custom = page.locator("input#custom-hours")
    expect(custom).to_be_visible()
    custom.fill("3")
    ui.send(page, "three hours")
    expect(ui.message_with_text(page, "three hours").locator(".expiry-mark")).to_be_visible()
    ui.wait_stored(page, "three hours")
    (message,) = live_server.all_messages(alice, conversation_id)
    lifetime = timestamp(message["expiresAt"]) - timestamp(message["createdAt"])
    assert abs(lifetime.total_seconds() - 3 * 3600) < 5, message

    picker.select_option("off")
    expect(custom).to_be_hidden()
    ui.send(page, "forever")
    expect(ui.message_with_text(page, "forever")).to_have_count(1)
    expect(ui.message_with_text(page, "forever").locator(".expiry-mark")).to_have_count(0)
    ui.wait_stored(page, "forever")
    assert live_server.all_messages(alice, conversation_id)[-1]["expiresAt"] is None


def test_typing_shows_in_the_other_window_and_goes_away(
    windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    alice_page, bob_page = windows.open(), windows.open()
    for page, account in ((alice_page, alice), (bob_page, bob)):
        ui.login(page, account)
        ui.open_chat(page, conversation_id)
    indicator = bob_page.locator("#typing-indicator")
    expect(indicator).to_be_hidden()

    alice_page.locator("textarea#message-input").press_sequentially("I am wri", delay=50)
    expect(indicator).to_be_visible()
    expect(indicator).to_have_text(f"{alice.display_name} @{alice.username} is typing…")
    expect(indicator.locator(".typing-name")).to_have_text(alice.display_name)
    expect(indicator.locator(".typing-username")).to_have_text(f"@{alice.username}")
    expect(alice_page.locator("#typing-indicator")).to_be_hidden()

    alice_page.locator("textarea#message-input").press("Enter")
    expect(ui.message_with_text(bob_page, "I am wri")).to_have_count(1)
    expect(indicator).to_be_hidden()


def test_typing_shows_at_once_after_a_reload_from_the_join_ack(
    windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    alice_page, bob_page = windows.open(), windows.open()
    for page, account in ((alice_page, alice), (bob_page, bob)):
        ui.login(page, account)
        ui.open_chat(page, conversation_id)
    indicator = bob_page.locator("#typing-indicator")
    alice_page.locator("textarea#message-input").press_sequentially("still wri", delay=20)
    expect(indicator).to_be_visible()

    # Alice types no more, so no typing event reaches the reloaded page: only the join ack
    # can tell it (within the 3 s before her composer says she stopped).
    bob_page.reload()
    expect(bob_page.locator("ol#messages")).to_be_attached()
    expect(indicator).to_have_text(f"{alice.display_name} @{alice.username} is typing…", timeout=2500)


def test_older_messages_load_when_scrolling_up_in_order_without_duplicates(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    total = 120  # more than the API's largest page (100), whatever page size the UI asks for
    live_server.grant(alice, 10 * (total - 40))
    for number in range(1, total + 1):
        sender = bob if 20 < number <= 40 else alice  # each has 20 free; alice pays for the rest
        live_server.sent(sender, conversation_id, f"message {number}")

    page = windows.open()
    ui.login(page, bob)
    ui.open_chat(page, conversation_id)
    expect(ui.messages(page).last.locator(".message-text")).to_have_text(f"message {total}")
    expect(ui.messages(page).last).to_be_in_viewport()
    shown = ui.messages(page).count()
    assert shown < total, "the chat loaded the whole history at once"

    for _ in range(10):
        if shown == total:
            break
        oldest = ui.messages(page).first
        oldest.scroll_into_view_if_needed()
        oldest.hover()
        page.mouse.wheel(0, -2000)
        expect(ui.messages(page)).not_to_have_count(shown)
        shown = ui.messages(page).count()
    texts = ui.messages(page).locator(".message-text").all_text_contents()
    assert texts == [f"message {n}" for n in range(1, total + 1)]
    ids = ui.message_ids(page)
    assert len(ids) == len(set(ids))
