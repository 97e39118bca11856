"""Dark mode: it follows prefers-color-scheme, and a toggle (remembered in localStorage) overrides it."""

from typing import Any

import pytest
from playwright.sync_api import Page, expect
from support.rest import Account
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

# The relative luminance of the page's background (0 black, 1 white).
BACKGROUND_LUMINANCE = """() => {
  const [r, g, b] = getComputedStyle(document.documentElement).backgroundColor.match(/\\d+/g).map(Number);
  const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}"""


def is_dark(page: Page) -> bool:
    return page.evaluate(BACKGROUND_LUMINANCE) < 0.1


def test_the_system_dark_scheme_is_followed_and_the_toggle_overrides_it_across_reloads(
    windows: Windows,
) -> None:
    page = windows.open(color_scheme="dark")
    page.goto("/login")
    toggle = page.locator("[data-theme-toggle]")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert is_dark(page)

    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    assert not is_dark(page)
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert not is_dark(page)
    expect(page.locator("[data-theme-toggle]")).to_have_attribute("aria-pressed", "false")


def test_the_toggle_turns_a_light_system_dark_on_every_page_of_the_user(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open(color_scheme="light")
    ui.login(page, alice)
    assert not is_dark(page)
    toggle = page.locator("[data-theme-toggle]")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert is_dark(page)

    # The next page is dark from its first paint: the theme is set by a script in <head>.
    page.goto(f"/c/{conversation_id}", wait_until="commit")
    page.wait_for_selector("body", state="attached")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    ui.connected(page)
    assert is_dark(page)
