"""The login and register forms in Chromium: each refused field says why next to itself (and is
marked aria-invalid), a taken username is one of those, and a throttled login says when to try again."""

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Locator, Page, expect
from support.rest import unique_name
from support.servers import LiveServer
from support.settings import PASSWORD

# Fixtures of tests/e2e/conftest.py.
Windows = Any
Ui = Any
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

# The failed-login limit per username and address (config.py LOGIN_FAILURE_LIMIT, the default
# the session's server runs with): the next attempt is refused without checking the password.
LOGIN_FAILURES_ALLOWED = 5
NEAR_PX = 48  # "next to the field": the error starts this close below the input (or its row)


def register_with(page: Page, username: str, password: str, display_name: str = "") -> None:
    page.goto("/register")
    form = page.locator("form#register-form")
    form.locator("#username").fill(username)
    form.locator("#display-name").fill(display_name)
    form.locator("#password").fill(password)
    form.get_by_role("button", name="Create account").click()
    page.wait_for_load_state()


def assert_error_next_to(page: Page, field_id: str, text: str | re.Pattern[str]) -> Locator:
    """The field's error says `text`, sits in the field's own block just below it, and the field
    is marked invalid and described by it."""
    field = page.locator(f"#{field_id}")
    error = page.locator(f"#{field_id}-error")
    expect(error).to_be_visible()
    expect(error).to_have_class(re.compile(r"\bfield-error\b"))
    expect(error).to_contain_text(text)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", re.compile(rf"(^|\s){field_id}-error(\s|$)"))
    expect(field).to_have_accessible_description(re.compile(re.escape(error.inner_text().strip())))
    block = page.locator(".field").filter(has=field)
    expect(block).to_have_count(1)
    expect(block.locator(".field-error")).to_have_count(1)
    expect(block.locator(f"#{field_id}-error")).to_have_count(1)
    field_box, error_box = field.bounding_box(), error.bounding_box()
    assert field_box is not None and error_box is not None
    below = error_box["y"] - (field_box["y"] + field_box["height"])
    assert 0 <= below <= NEAR_PX, f"#{field_id}-error is {below}px below its field"
    return error


def assert_valid(page: Page, field_id: str) -> None:
    expect(page.locator(f"#{field_id}")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#{field_id}-error")).to_have_count(0)


def test_register_shows_a_bad_username_and_a_short_password_next_to_each_field(
    live_server: LiveServer, windows: Windows
) -> None:
    page = windows.open()
    name = unique_name("ok")
    register_with(page, "no spaces!", "short", display_name="Dora")
    assert urlparse(page.url).path == "/register"
    expect(page.locator(".form-error")).to_have_text("Please correct the fields below.")
    assert_error_next_to(page, "username", "letters, digits")
    assert_error_next_to(page, "password", "at least 8 characters")
    assert_valid(page, "display-name")
    expect(page.locator("#username")).to_have_value("no spaces!")  # what was typed is kept
    expect(page.locator("#display-name")).to_have_value("Dora")

    # Only the short password now: the username's error is gone, the password's stays.
    register_with(page, name, "short")
    assert_valid(page, "username")
    assert_error_next_to(page, "password", "at least 8 characters")
    assert live_server.login(name).status_code == 401  # no account was made

    register_with(page, name, PASSWORD)
    page.wait_for_url(lambda url: urlparse(url).path == "/")
    expect(page.locator("[data-testid=current-user]")).to_contain_text(name)


def test_a_taken_username_is_said_next_to_the_username_field(
    live_server: LiveServer, windows: Windows
) -> None:
    someone = live_server.account("taken")
    page = windows.open()
    register_with(page, someone.username.upper(), PASSWORD, display_name="Not them")
    assert urlparse(page.url).path == "/register"
    assert_error_next_to(page, "username", "That username is taken.")
    assert_valid(page, "password")
    assert_valid(page, "display-name")
    banner = page.locator(".form-error")
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).not_to_contain_text("taken")  # said once, where it belongs
    expect(page.locator("#username")).to_have_value(someone.username.upper())
    expect(page.locator("#display-name")).to_have_value("Not them")
    expect(page.get_by_text("That username is taken.")).to_have_count(1)


def test_login_shows_a_missing_field_next_to_it(windows: Windows) -> None:
    page = windows.open()
    page.goto("/login")
    page.locator("#username").fill("someone")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert urlparse(page.url).path == "/login"
    assert_error_next_to(page, "password", re.compile("required", re.IGNORECASE))
    assert_valid(page, "username")
    expect(page.locator("#username")).to_have_value("someone")


def test_a_throttled_login_says_when_to_try_again(live_server: LiveServer, windows: Windows) -> None:
    account = live_server.account("throttled")
    page = windows.open()
    for _ in range(LOGIN_FAILURES_ALLOWED):
        page.goto("/login")
        page.locator("#username").fill(account.username)
        page.locator("#password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".form-error")).to_have_text("The username or password is wrong.")

    # The right password now: refused all the same, with when to try again.
    page.goto("/login")
    page.locator("#username").fill(account.username)
    page.locator("#password").fill(PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST" and "/login" in r.url) as answer:
        page.get_by_role("button", name="Log in").click()
    assert answer.value.status == 429
    retry_after = int(answer.value.headers["retry-after"])
    assert 0 < retry_after <= 15 * 60
    error = page.locator(".form-error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_have_text(re.compile(r"Too many failed logins; try again in (1[0-5]|[1-9]) minutes?\."))
    assert urlparse(page.url).path == "/login"
    expect(page.locator("[data-testid=current-user]")).to_have_count(0)
    expect(page.locator("#username")).to_have_value(account.username)
