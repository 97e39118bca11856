"""Phone width with a touch keyboard: a compact composer with a Send button, and Enter that inserts
a new line instead of sending."""

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from support.rest import Account
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PHONE = {"width": 390, "height": 844}


def test_on_a_touch_phone_enter_is_a_new_line_and_the_send_button_sends(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open(viewport=PHONE, has_touch=True, is_mobile=True)
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    assert page.evaluate("matchMedia('(pointer: coarse)').matches")

    # Compact at rest: a fifth of the screen at most.
    composer = page.locator("#composer").bounding_box()
    assert composer is not None and composer["height"] <= PHONE["height"] / 5, composer
    box = page.locator("textarea#message-input")
    box.press_sequentially("line one")
    box.press("Enter")
    box.press_sequentially("line two")
    expect(box).to_have_value("line one\nline two")
    expect(ui.messages(page)).to_have_count(0)

    send = page.locator("#send-button")
    expect(send).to_be_in_viewport()
    button = send.bounding_box()
    assert button is not None and button["height"] >= 44, button  # a thumb-sized target
    send.tap()
    expect(box).to_have_value("")
    expect(ui.message_with_text(page, "line one\nline two")).not_to_have_class(re.compile(r"\bpending\b"))
    messages = live_server.all_messages(alice, conversation_id)
    assert [m["content"] for m in messages] == ["line one\nline two"]


def test_with_a_mouse_and_keyboard_enter_still_sends(
    windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open(viewport=PHONE)
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    ui.send(page, "sent with Enter")
    expect(ui.message_with_text(page, "sent with Enter")).to_have_count(1)
    expect(page.locator("textarea#message-input")).to_have_value("")
