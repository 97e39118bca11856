"""Archive and mute in the web UI: from the list's row menu and from the chat header, the
archived chats behind one "Archived (N)" entry, and what a new message does to them."""

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from support.rest import Account
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def patch(server: LiveServer, who: Account, conversation_id: str, **changes: Any) -> dict[str, Any]:
    """PATCH /api/conversations/{id} (asserting 200): the conversation as `who` sees it."""
    response = server.request(
        "PATCH", f"/api/conversations/{conversation_id}", json=changes, headers=who.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["conversation"]


def row_action(page: Page, item: Any, action: str) -> None:
    """Open the row's menu with the keyboard and choose `action` (Archive, Unarchive, Mute, Unmute)."""
    toggle = item.locator("button.row-menu-button")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    menu = item.locator(".row-menu")
    expect(menu).to_be_visible()
    first = menu.locator("button").first
    expect(first).to_be_focused()
    names = menu.locator("button").all_inner_texts()
    assert action in names, names
    for _ in range(names.index(action)):
        page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("button", name=action, exact=True)).to_be_focused()
    page.keyboard.press("Enter")


def archived_entry(page: Page) -> Any:
    return page.locator("#archived-open")


def test_archive_from_the_list_hides_the_chat_behind_archived_and_unarchive_brings_it_back(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    live_server.sent(bob, conversation_id, "see you at noon")
    page = windows.open()
    ui.login(page, alice)
    ui.connected(page)
    item = ui.conversation_item(page, conversation_id)
    expect(item).to_be_visible()
    expect(archived_entry(page)).to_be_hidden()

    row_action(page, item, "Archive")
    expect(item).to_have_count(0)
    entry = archived_entry(page)
    expect(entry).to_be_focused()  # the focus stays in the list, on what took the row's place
    expect(page.locator("#list-status")).to_have_text(
        f"Chat with {bob.display_name} @{bob.username} archived."
    )
    expect(entry).to_contain_text("Archived (1)")
    expect(entry).to_have_accessible_name(re.compile(r"^Archived \(1\)"))
    expect(entry.locator("[data-testid=archived-unread]")).to_have_text("1")
    expect(page.locator("#no-conversations")).to_be_visible()
    assert patch(live_server, alice, conversation_id)["archived"] is True  # nothing else changes
    assert patch(live_server, bob, conversation_id)["archived"] is False  # Bob's own list is his

    entry.click()
    expect(page.locator("#archived-header")).to_be_visible()
    expect(page.locator("#archived-back")).to_be_focused()
    expect(page.locator("#conversation-list")).to_have_accessible_name("Archived chats")
    expect(item).to_be_visible()
    expect(item.locator(".conv-preview")).to_have_text("see you at noon")

    row_action(page, item, "Unarchive")
    expect(item).to_have_count(0)
    page.locator("#archived-back").click()
    expect(item).to_be_visible()
    expect(archived_entry(page)).to_be_hidden()
    expect(item.locator(".unread-badge")).to_have_text("1")

    # Muting from the row: the row says so, and the chat stays in the main list.
    row_action(page, item, "Mute")
    expect(item.locator("[data-testid=muted-mark]")).to_be_visible()
    expect(item.locator("button.row-menu-button")).to_be_focused()
    assert patch(live_server, alice, conversation_id)["muted"] is True


def test_archive_in_the_chat_header_moves_the_chat_in_another_tab_of_the_same_user(
    windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    list_page, chat_page = windows.open(), windows.open()
    for page in (list_page, chat_page):
        ui.login(page, alice)
    ui.connected(list_page)
    item = ui.conversation_item(list_page, conversation_id)
    expect(item).to_be_visible()
    ui.open_chat(chat_page, conversation_id)

    chat_page.locator("#chat-archive").click()
    expect(chat_page.locator("#chat-archive")).to_have_text("Unarchive")
    expect(item).to_have_count(0)  # live, through conversation:update to her other sockets
    expect(archived_entry(list_page)).to_contain_text("Archived (1)")

    chat_page.locator("#chat-mute").click()
    expect(chat_page.locator("#chat-mute")).to_have_text("Unmute")
    chat_page.locator("#chat-archive").click()
    expect(chat_page.locator("#chat-archive")).to_have_text("Archive")
    expect(item).to_be_visible()
    expect(item.locator("[data-testid=muted-mark]")).to_be_visible()
    expect(archived_entry(list_page)).to_be_hidden()


def test_a_new_message_brings_an_archived_chat_back_but_a_muted_one_stays_archived_with_its_unread_count(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, with_bob = pair
    carol = live_server.account("carol", display_name="Carol")
    with_carol = live_server.conversation(carol, alice)
    patch(live_server, alice, with_bob, archived=True)
    patch(live_server, alice, with_carol, archived=True, muted=True)

    page = windows.open()
    ui.login(page, alice)
    ui.connected(page)
    entry = archived_entry(page)
    expect(entry).to_contain_text("Archived (2)")
    expect(entry.locator("[data-testid=archived-unread]")).to_be_hidden()
    expect(ui.conversation_item(page, with_bob)).to_have_count(0)
    expect(ui.conversation_item(page, with_carol)).to_have_count(0)

    live_server.sent(bob, with_bob, "back to the top")
    bob_item = ui.conversation_item(page, with_bob)
    expect(bob_item).to_be_visible()
    expect(bob_item.locator(".conv-preview")).to_have_text("back to the top")
    expect(bob_item.locator(".unread-badge")).to_have_text("1")
    expect(entry).to_contain_text("Archived (1)")

    live_server.sent(carol, with_carol, "muted, so I stay put")
    live_server.sent(carol, with_carol, "still here")
    unread = entry.locator("[data-testid=archived-unread]")
    expect(unread).to_have_text("2")
    expect(unread).to_be_visible()
    expect(entry).to_contain_text("Archived (1)")
    expect(ui.conversation_item(page, with_carol)).to_have_count(0)

    # The archived list shows it with its count; opening it reads it and clears the badge.
    entry.click()
    carol_item = ui.conversation_item(page, with_carol)
    expect(carol_item.locator(".unread-badge")).to_have_text("2")
    expect(carol_item.locator("[data-testid=muted-mark]")).to_be_visible()
    carol_item.locator("a").click()
    page.wait_for_url(re.compile(rf"/c/{re.escape(with_carol)}$"))
    expect(ui.message_with_text(page, "still here")).to_have_count(1)
    expect(page.locator("#chat-archive")).to_have_text("Unarchive")
    expect(page.locator("#chat-mute")).to_have_text("Unmute")
    expect(page.locator("#archived-header")).to_be_visible()  # the archived list, where its row is
    expect(ui.conversation_item(page, with_carol)).to_have_class(re.compile(r"\bactive\b"))
    expect(ui.conversation_item(page, with_carol).locator(".unread-badge")).to_be_hidden()


def test_escape_closes_the_row_menu_and_gives_the_focus_back_to_its_button(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open()
    ui.login(page, alice)
    ui.connected(page)
    item = ui.conversation_item(page, conversation_id)
    toggle = item.locator("button.row-menu-button")
    menu = item.locator(".row-menu")

    # Opened with a click, the focus on its first action: Escape closes it.
    toggle.click()
    expect(menu).to_be_visible()
    expect(menu.locator("button").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()

    # Opened with the keyboard, moved to its last action: Escape again, and nothing was done.
    page.keyboard.press("ArrowDown")
    expect(menu).to_be_visible()
    page.keyboard.press("End")
    expect(menu.get_by_role("button", name="Mute", exact=True)).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(toggle).to_be_focused()
    expect(item.locator("[data-testid=muted-mark]")).to_have_count(0)
    assert patch(live_server, alice, conversation_id)["muted"] is False


def test_unmute_from_the_row_menu_and_the_chat_header_and_the_archived_entry_sits_above_the_rows(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, with_bob = pair
    carol = live_server.account("carol", display_name="Carol")
    with_carol = live_server.conversation(alice, carol)
    live_server.sent(bob, with_bob, "hello from bob")
    patch(live_server, alice, with_bob, muted=True)
    patch(live_server, alice, with_carol, archived=True)

    page = windows.open()
    ui.login(page, alice)
    ui.connected(page)
    entry = archived_entry(page)
    expect(entry).to_contain_text("Archived (1)")
    item = ui.conversation_item(page, with_bob)
    expect(item.locator("[data-testid=muted-mark]")).to_be_visible()

    # The entry is at the top of the list: above the first row, over the same column.
    first_row = page.locator("ul#conversation-list > li").first
    expect(first_row).to_be_visible()
    entry_box, row_box = entry.bounding_box(), first_row.bounding_box()
    assert entry_box is not None and row_box is not None
    assert entry_box["y"] + entry_box["height"] <= row_box["y"] + 1, (entry_box, row_box)
    assert (
        entry_box["x"] < row_box["x"] + row_box["width"]
        and row_box["x"] < entry_box["x"] + entry_box["width"]
    )

    # Unmute from the row's menu.
    row_action(page, item, "Unmute")
    expect(item.locator("[data-testid=muted-mark]")).to_have_count(0)
    expect(item).not_to_have_class(re.compile(r"\bmuted\b"))
    expect(item.locator("button.row-menu-button")).to_be_focused()
    expect(page.locator("#list-status")).to_contain_text("unmuted")
    assert patch(live_server, alice, with_bob)["muted"] is False
    item.locator("button.row-menu-button").click()
    expect(item.locator(".row-menu").get_by_role("button", name="Mute", exact=True)).to_be_visible()
    page.keyboard.press("Escape")

    # Muted again elsewhere, then unmuted from the chat header.
    patch(live_server, alice, with_bob, muted=True)
    ui.open_chat(page, with_bob)
    mute = page.locator("#chat-mute")
    expect(mute).to_have_text("Unmute")
    expect(item.locator("[data-testid=muted-mark]")).to_be_visible()
    mute.click()
    expect(mute).to_have_text("Mute")
    expect(item.locator("[data-testid=muted-mark]")).to_have_count(0)
    assert patch(live_server, alice, with_bob)["muted"] is False
    page.reload()
    ui.connected(page)
    expect(page.locator("#chat-mute")).to_have_text("Mute")
