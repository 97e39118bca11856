"""The chat's disappearing-messages timer in the web UI: set in the header, shown live to the
other participant with who set it, and used by a message sent with the composer's default."""

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


def lifetime_hours(message: dict[str, Any]) -> float:
    """Hours from a message's createdAt to its expiresAt."""
    created = datetime.fromisoformat(message["createdAt"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(message["expiresAt"].replace("Z", "+00:00"))
    return (expires - created).total_seconds() / 3600


def test_timer_set_by_one_shows_live_to_the_other_with_who_set_it_and_applies_to_default_sends(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    alice_page, bob_page = windows.open(), windows.open()
    for page, account in ((alice_page, alice), (bob_page, bob)):
        ui.login(page, account)
        ui.open_chat(page, conversation_id)
    for page in (alice_page, bob_page):
        expect(page.locator("#chat-timer-status")).to_have_text("Disappearing messages: off")
        expect(page.locator("select#expiration option").first).to_have_text("Chat timer (off)")
        expect(page.locator("select#expiration")).to_have_value("")

    alice_page.get_by_label("Timer", exact=True).select_option("8")
    expect(alice_page.locator("#chat-timer-status")).to_have_text(
        "Disappearing messages: 8 hours · set by you"
    )
    bob_status = bob_page.locator("#chat-timer-status")
    expect(bob_status).to_have_text(re.compile(r"^Disappearing messages: 8 hours · set by Alice @alice_"))
    expect(bob_page.locator("select#chat-timer")).to_have_value("8")
    expect(bob_page.locator("select#expiration option").first).to_have_text("Chat timer (8 hours)")

    # Bob sends with the picker left on the chat timer: the message disappears in 8 hours.
    ui.send(bob_page, "under the chat timer")
    for page in (alice_page, bob_page):
        sent = ui.message_with_text(page, "under the chat timer")
        expect(sent).to_have_count(1)
        expect(sent.locator(".expiry-mark")).to_be_visible()
    (message,) = live_server.all_messages(bob, conversation_id)
    assert abs(lifetime_hours(message) - 8) < 0.01, message

    # "Off" sends a message that never expires, whatever the chat's timer.
    bob_page.locator("select#expiration").select_option("off")
    ui.send(bob_page, "this one stays")
    expect(ui.message_with_text(bob_page, "this one stays")).to_have_count(1)
    expect(ui.message_with_text(bob_page, "this one stays").locator(".expiry-mark")).to_have_count(0)
    ui.wait_stored(bob_page, "this one stays")
    assert live_server.all_messages(bob, conversation_id)[-1]["expiresAt"] is None

    # Bob turns it off; Alice sees who did, and her picker's default says so.
    bob_page.locator("select#chat-timer").select_option("")
    expect(alice_page.locator("#chat-timer-status")).to_have_text(
        re.compile(r"^Disappearing messages: off · turned off by Bob @bob_")
    )
    expect(alice_page.locator("select#chat-timer")).to_have_value("")
    expect(alice_page.locator("select#expiration option").first).to_have_text("Chat timer (off)")
    ui.send(alice_page, "no timer now")
    expect(ui.message_with_text(alice_page, "no timer now")).to_have_count(1)
    ui.wait_stored(alice_page, "no timer now")
    assert live_server.all_messages(alice, conversation_id)[-1]["expiresAt"] is None


def test_timer_set_over_the_api_shows_after_a_reload_and_an_odd_value_is_offered(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    response = live_server.request(
        "PATCH", f"/api/conversations/{conversation_id}", json={"expirationHours": 48}, headers=bob.headers
    )
    assert response.status_code == 200, response.text
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    expect(page.locator("#chat-timer-status")).to_contain_text("Disappearing messages: 2 days · set by Bob")
    expect(page.locator("select#chat-timer")).to_have_value("48")
    expect(page.locator("select#expiration option").first).to_have_text("Chat timer (2 days)")
