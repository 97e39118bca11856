"""The account in the web UI: /profile changes the display name and the password (signing out the
other sessions), initial-letter avatars with @username, and the login and register forms."""

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect
from support.rest import Account
from support.servers import LiveServer
from support.settings import PASSWORD

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NEW_PASSWORD = "a-new-passphrase-42"


def path_is(path: str) -> Any:
    """A URL predicate for page.wait_for_url: the path equals `path`."""
    return lambda url: urlparse(url).path == path


def test_a_logged_in_user_is_sent_from_login_and_register_to_the_list(
    live_server: LiveServer, windows: Windows, ui: Ui
) -> None:
    alice = live_server.account("alice", display_name="Alice")
    page = windows.open()
    ui.login(page, alice)
    for path in ("/login", "/register"):
        page.goto(path)
        page.wait_for_url(path_is("/"))
        expect(page.locator("[data-testid=current-user]")).to_contain_text(alice.username)


def test_password_fields_have_a_show_toggle_and_the_rule_is_on_the_register_form(windows: Windows) -> None:
    page = windows.open()
    page.goto("/register")
    password = page.locator("#password")
    expect(password).to_have_accessible_description(re.compile("at least 8 characters", re.IGNORECASE))
    expect(password).to_have_attribute("type", "password")  # hidden until the person asks to see it
    password.fill("secret words")
    toggle = page.locator("button[data-reveal=password]")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(password).to_have_attribute("type", "text")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    toggle.click()
    expect(password).to_have_attribute("type", "password")
    page.goto("/login")
    expect(page.locator("#password")).to_have_attribute("type", "password")
    expect(page.locator("button[data-reveal=password]")).to_be_visible()


def test_profile_changes_the_name_and_the_password_and_signs_out_the_other_sessions(
    live_server: LiveServer, windows: Windows, ui: Ui, pair: tuple[Account, Account, str]
) -> None:
    alice, bob, conversation_id = pair
    elsewhere = windows.open()
    ui.login(elsewhere, alice)
    page = windows.open()
    ui.login(page, alice)
    row = ui.conversation_item(page, conversation_id)
    expect(row.locator(".avatar")).to_have_text("B")
    expect(row).to_contain_text(f"@{bob.username}")

    page.get_by_role("link", name="Profile").click()
    page.wait_for_url(path_is("/profile"))
    name = page.locator("#display-name")
    name.fill("   ")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#display-name-error")).to_be_visible()
    expect(name).to_have_attribute("aria-invalid", "true")
    name.fill("Alice Liddell")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#profile-status")).to_have_text("Saved.")
    expect(page.locator("#profile-avatar .avatar")).to_have_text("A")
    assert live_server.request("GET", "/api/auth/me", headers=alice.headers).json()["user"][
        "displayName"
    ] == ("Alice Liddell")
    expect(name).not_to_have_attribute("aria-invalid", "true")

    page.locator("#current-password").fill("not my password")
    page.locator("#new-password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#current-password-error")).to_contain_text("current password")
    page.locator("#current-password").fill(PASSWORD)
    page.locator("#new-password").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#new-password-error")).to_contain_text("8")
    page.locator("#new-password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-status")).to_contain_text("Password changed")

    # This session goes on; the other one is signed out.
    page.goto("/")
    expect(page.locator("[data-testid=current-user]")).to_contain_text(alice.username)
    elsewhere.reload()
    elsewhere.wait_for_url(path_is("/login"))
    ui.login(elsewhere, alice.username, NEW_PASSWORD)
