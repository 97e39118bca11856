"""Keyboard use and labels: the login form works without a mouse, and every control has a label."""

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Locator, Page, expect
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

MAX_TABS = 25
CONTROLS = "input:not([type=hidden]), select, textarea"
# The text get_by_label matches for a control: aria-labelledby, aria-label, or its <label>s.
LABEL_TEXT = """
el => {
  const ids = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean);
  const byIds = ids.map(id => document.getElementById(id)).filter(Boolean)
                   .map(e => e.textContent).join(' ');
  const labels = Array.from(el.labels || []).map(label => label.textContent).join(' ');
  return [byIds, el.getAttribute('aria-label') || '', labels]
      .map(text => text.replace(/\\s+/g, ' ').trim()).find(Boolean) || '';
}
"""


def focused_id(page: Page) -> str:
    return page.evaluate("document.activeElement ? document.activeElement.id : ''")


def tab_to(page: Page, element_id: str) -> None:
    """Press Tab until the element has the focus (failing after MAX_TABS presses)."""
    for _ in range(MAX_TABS):
        if focused_id(page) == element_id:
            return
        page.keyboard.press("Tab")
    pytest.fail(f"#{element_id} never got the focus in {MAX_TABS} Tab presses (last: #{focused_id(page)})")


def assert_labelled(page: Page, control: Locator) -> str:
    """The control has a label that page.get_by_label finds it by; returns the label text."""
    element_id = control.get_attribute("id") or ""
    text = control.evaluate(LABEL_TEXT)
    assert text, f"#{element_id} has no label (no <label>, aria-label or aria-labelledby)"
    found = page.get_by_label(text).evaluate_all(
        "(els, target) => els.some(e => e.id === target)", element_id
    )
    assert found, f"page.get_by_label({text!r}) does not find #{element_id}"
    expect(control).to_have_accessible_name(re.compile(r"\S"))
    return text


def test_login_form_can_be_completed_with_tab_typing_and_enter(
    live_server: LiveServer, windows: Windows, ui: Ui
) -> None:
    account = live_server.account("keys")
    page = windows.open()
    page.goto("/login")
    tab_to(page, "username")
    page.keyboard.type(account.username)
    page.keyboard.press("Tab")
    assert focused_id(page) == "password", "Tab from the username does not lead to the password"
    page.keyboard.type(account.password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: urlparse(url).path == "/")
    expect(page.locator("[data-testid=current-user]")).to_contain_text(account.username)


def test_every_control_of_the_forms_search_and_composer_has_a_label(
    windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open()
    labels = {}
    for path, form in (("/register", "form#register-form"), ("/login", "form#login-form")):
        page.goto(path)
        controls = page.locator(f"{form} :is({CONTROLS})")
        assert controls.count() >= 2, path
        for control in controls.all():
            labels[f"{path} #{control.get_attribute('id')}"] = assert_labelled(page, control)

    ui.login(page, alice)
    search = page.locator("input#user-search")
    labels["/ #user-search"] = assert_labelled(page, search)

    ui.open_chat(page, conversation_id)
    page.locator("select#expiration").select_option("custom")
    expect(page.locator("input#custom-hours")).to_be_visible()
    controls = page.locator(f"form#composer :is({CONTROLS})")
    ids = [control.get_attribute("id") for control in controls.all()]
    assert {"message-input", "expiration", "custom-hours"} <= set(ids), ids
    for control in controls.all():
        if control.is_visible():
            labels[f"/c #{control.get_attribute('id')}"] = assert_labelled(page, control)
