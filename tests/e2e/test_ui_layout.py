"""The chat at desktop and phone width, light and dark: screenshots, and no sideways scrolling on a phone.

The screenshots go to build/screenshots/ (git-ignored). With UPDATE_SCREENSHOTS=1 they
replace the README's, docs/screenshots/*.png:

    UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/e2e/test_ui_layout.py
"""

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

TOP_LEVEL = Path(__file__).resolve().parents[2]
UPDATING_DOCS = os.environ.get("UPDATE_SCREENSHOTS", "") == "1"
SCREENSHOTS = TOP_LEVEL / ("docs" if UPDATING_DOCS else "build") / "screenshots"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
MIN_PNG_BYTES = 8_000  # a blank or nearly blank page compresses to far less


def test_chat_screenshots_at_desktop_and_phone_width_and_no_horizontal_scroll_on_a_phone(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, bob, conversation_id = pair
    live_server.sent(alice, conversation_id, "Hi Bob! Are we still on for lunch tomorrow?")
    live_server.sent(bob, conversation_id, "Yes, 12:30 at the usual place.")
    live_server.sent(
        alice,
        conversation_id,
        "Great. I'll bring the printed plans so we can go through them together, page by page, "
        "with a long-unbroken-word-like-this-one-https://example.com/a/very/long/path/that/must/wrap",
    )
    live_server.sent(bob, conversation_id, "This one disappears in 24 hours.", expirationHours=24)
    live_server.sent(alice, conversation_id, "See you then!")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    for name, viewport, options in (
        ("chat-desktop.png", DESKTOP, {"color_scheme": "light"}),
        ("chat-phone.png", PHONE, {"is_mobile": True, "has_touch": True, "color_scheme": "light"}),
        ("chat-desktop-dark.png", DESKTOP, {"color_scheme": "dark"}),
        ("chat-phone-dark.png", PHONE, {"is_mobile": True, "has_touch": True, "color_scheme": "dark"}),
    ):
        page = windows.open(viewport=viewport, **options)
        ui.login(page, alice)
        ui.open_chat(page, conversation_id)
        expect(ui.messages(page)).to_have_count(5)
        expect(page.locator("textarea#message-input")).to_be_in_viewport()
        expect(page.locator("button#send-button")).to_be_in_viewport()
        expect(ui.messages(page).last).to_be_in_viewport()
        path = SCREENSHOTS / name
        page.screenshot(path=str(path))
        assert path.is_file()
        assert path.stat().st_size > MIN_PNG_BYTES, f"{path} is only {path.stat().st_size} bytes"

        if viewport is PHONE:
            for path in (f"/c/{conversation_id}", "/", "/login"):
                if path != f"/c/{conversation_id}":
                    page.goto(path)
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], f"{path} is {width}px wide at a {PHONE['width']}px viewport"
