"""Logging in and out in the browser."""

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect
from support.servers import LiveServer

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_a_wrong_password_shows_an_alert_and_stays_on_the_login_page(
    live_server: LiveServer, windows: Windows
) -> None:
    account = live_server.account("typo")
    page = windows.open()
    page.goto("/login")
    page.locator("form#login-form #username").fill(account.username)
    page.locator("form#login-form #password").fill("not-the-password")
    page.locator("form#login-form button[type=submit]").click()
    error = page.locator(".form-error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("role", "alert")
    assert urlparse(page.url).path == "/login"
    expect(page.locator("[data-testid=current-user]")).to_have_count(0)
    assert not [c for c in page.context.cookies() if "access" in c["name"].lower()]


def test_logging_out_returns_to_login_and_pages_need_a_new_login(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Any, Any, str]
) -> None:
    alice, _bob, conversation_id = pair
    page = windows.open()
    ui.login(page, alice)
    ui.open_chat(page, conversation_id)
    page.locator("form#logout-form button").click()
    page.wait_for_url(lambda url: urlparse(url).path == "/login")

    page.goto(f"/c/{conversation_id}")
    assert urlparse(page.url).path == "/login"
    expect(page.locator("form#login-form")).to_be_visible()
    page.goto("/")
    assert urlparse(page.url).path == "/login"
    expect(page.locator("[data-testid=current-user]")).to_have_count(0)
    expect(page.locator("form#login-form #username")).to_have_value(re.compile(r"^$"))
