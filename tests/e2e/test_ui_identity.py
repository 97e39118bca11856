"""Who someone is: the conversation list and the chat header show @username beside the
display name, so two people with one display name cannot be told apart by it alone."""

from typing import Any

import pytest
from playwright.sync_api import expect
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_the_list_and_the_chat_header_tell_two_people_with_one_display_name_apart(
    live_server: LiveServer, windows: Windows, ui: Ui
) -> None:
    alice = live_server.account("alice", display_name="Alice")
    impostor = live_server.account("mallory", display_name="Alice")
    bob = live_server.account("bob", display_name="Bob")
    real, fake = live_server.conversation(alice, bob), live_server.conversation(impostor, bob)
    page = windows.open()
    ui.login(page, bob)

    for conversation_id, person in ((real, alice), (fake, impostor)):
        item = ui.conversation_item(page, conversation_id)
        expect(item.locator(".conv-name")).to_have_text("Alice")
        expect(item.locator(".conv-username")).to_have_text(f"@{person.username}")

    ui.open_chat(page, fake)
    expect(page.locator("#chat-title")).to_contain_text("Alice")
    expect(page.locator("#chat-title .chat-username")).to_have_text(f"@{impostor.username}")
    assert f"@{impostor.username}" in page.title()
