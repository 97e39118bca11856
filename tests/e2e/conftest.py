"""Browser tests: the real server (`python wsgi.py`, eventlet) on a migrated SQLite file, driven by Chromium.

Playwright drives Debian's Chromium (/usr/bin/chromium); browser downloads are not
used. Without that browser the tests skip locally and fail in CI (CI=true).

The server (support.servers.LiveServer, kind "eventlet") is one process for the whole
session, started the way `make run` starts it, on a free port; `restart` brings it back
on the same port and the same database (optionally with its clock shifted through
libfaketime).
"""

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect
from support.pytest_live import call_failed, fail_or_skip, pytest_runtest_makereport  # noqa: F401 (the hook)
from support.rest import Account
from support.servers import Launcher, LiveServer
from support.settings import PASSWORD

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")  # Debian's package; no downloads
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 10_000  # every single wait of a test: an action, a navigation, an expect
DESKTOP = {"width": 1280, "height": 800}

expect.set_options(timeout=WAIT_MS)


# --------------------------------------------------------------------------- server


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of the system Chromium (skips locally, fails in CI, when it is missing)."""
    if not os.access(CHROMIUM, os.X_OK):
        fail_or_skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def live_server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`python wsgi.py` on a freshly migrated SQLite database, for the whole session.

    Rate limits are off (the tests log in again and again from one address); every
    request opens a new connection (the server restarts under the client).
    """
    workdir = tmp_path_factory.mktemp("e2e")
    launcher = Launcher(workdir)
    env = launcher.environment(f"sqlite:///{workdir / 'e2e.db'}", RATELIMIT_ENABLED="false")
    try:
        yield launcher.start(env, "eventlet", kind="eventlet", keep_alive=False, request_timeout=10.0)
    finally:
        launcher.stop_all()


@pytest.fixture(autouse=True)
def server_health(request: pytest.FixtureRequest, live_server: LiveServer) -> Iterator[None]:
    """Each test starts on a running server with the real clock; server errors fail the test."""
    if not live_server.running or live_server.clock_offset:
        live_server.restart()
    since = live_server.log_size()
    yield
    if call_failed(request):
        print(f"--- server log during {request.node.name} ---\n{live_server.log(since)[-20000:]}")
        return
    live_server.assert_clean_log(since)


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright, chromium: str) -> Iterator[Browser]:
    """Headless system Chromium, for the whole session."""
    try:
        instance = playwright_driver.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
    except Exception as error:  # a browser that cannot start is as good as none
        fail_or_skip(f"Chromium at {chromium} did not start: {error}")
    yield instance
    instance.close()


@dataclass
class PageEvents:
    """What a page reported besides its DOM: uncaught errors, console errors, dialogs."""

    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


class Windows:
    """Opens browser windows (one context each: separate cookies, like two people)."""

    def __init__(self, browser: Browser, server: LiveServer) -> None:
        self.browser = browser
        self.server = server
        self.contexts: list[BrowserContext] = []
        self.events: dict[int, PageEvents] = {}
        self.pages: list[Page] = []

    def open(self, viewport: dict[str, int] | None = None, **options: Any) -> Page:
        """A new window (context + page) on the live server, waits bounded by WAIT_MS."""
        context = self.browser.new_context(
            base_url=self.server.url, viewport=viewport or DESKTOP, locale="en-US", **options
        )
        context.set_default_timeout(WAIT_MS)
        context.set_default_navigation_timeout(WAIT_MS)
        self.contexts.append(context)
        page = context.new_page()
        events = PageEvents()
        self.events[id(page)] = events
        self.pages.append(page)
        page.on("pageerror", lambda error: events.errors.append(str(error)))
        page.on(
            "console",
            lambda message: (
                events.console.append(f"{message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )

        def on_dialog(dialog: Any) -> None:
            events.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        return page

    def of(self, page: Page) -> PageEvents:
        return self.events[id(page)]

    def report(self) -> str:
        lines = []
        for number, page in enumerate(self.pages, 1):
            events = self.of(page)
            url = "(closed)" if page.is_closed() else page.url
            lines.append(f"window {number} {url}")
            lines.extend(f"  uncaught: {e}" for e in events.errors)
            lines.extend(f"  console {c}" for c in events.console)
            lines.extend(f"  dialog {d}" for d in events.dialogs)
        return "\n".join(lines)

    def close(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(Exception):
                context.close()


@pytest.fixture
def windows(browser: Browser, live_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Windows]:
    """Browser windows for one test; closed after it. Uncaught JavaScript errors fail the test."""
    opened = Windows(browser, live_server)
    yield opened
    report = getattr(request.node, "report_call", None)
    failed = report is not None and report.failed
    if failed and opened.pages:
        print("--- browser windows ---\n" + opened.report())
    uncaught = [e for page in opened.pages for e in opened.of(page).errors]
    opened.close()
    if not failed:
        assert not uncaught, "uncaught JavaScript errors in the page:\n" + opened.report()


# --------------------------------------------------------------------------- the UI


def path_is(path: str) -> Callable[[str], bool]:
    """A URL predicate for page.wait_for_url: the path equals `path`."""
    return lambda url: urlparse(url).path == path


CHAT_PATH = re.compile(r"^/c/([^/?#]+)$")


class Ui:
    """The steps a person takes in the web UI, written once against the DOM contract."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server

    def register(self, page: Page, username: str, display_name: str, password: str = PASSWORD) -> None:
        """Fill /register; ends logged in on /."""
        page.goto("/register")
        form = page.locator("form#register-form")
        form.locator("#username").fill(username)
        form.locator("#display-name").fill(display_name)
        form.locator("#password").fill(password)
        form.locator("button[type=submit], input[type=submit]").first.click()
        page.wait_for_url(path_is("/"))
        expect(page.locator("[data-testid=current-user]")).to_contain_text(username)

    def login(self, page: Page, account: Account | str, password: str = PASSWORD) -> None:
        """Fill /login; ends logged in on /."""
        username = account.username if isinstance(account, Account) else account
        page.goto("/login")
        form = page.locator("form#login-form")
        form.locator("#username").fill(username)
        form.locator("#password").fill(password)
        form.locator("button[type=submit], input[type=submit]").first.click()
        page.wait_for_url(path_is("/"))
        expect(page.locator("[data-testid=current-user]")).to_contain_text(username)

    def connected(self, page: Page) -> None:
        """Wait until the page's socket is connected."""
        expect(page.locator("#connection-state")).to_have_attribute("data-state", "connected")

    def start_conversation(self, page: Page, other: Account | str) -> str:
        """Search the other user on /, click the result; the new conversation's id."""
        username = other.username if isinstance(other, Account) else other
        page.locator("#user-search").fill(username)
        page.locator(f'#user-results button[data-username="{username}"]').click()
        page.wait_for_url(lambda url: CHAT_PATH.match(urlparse(url).path) is not None)
        match = CHAT_PATH.match(urlparse(page.url).path)
        assert match is not None
        return match.group(1)

    def open_chat(self, page: Page, conversation_id: str) -> None:
        """Go to /c/<id> and wait for the socket."""
        page.goto(f"/c/{conversation_id}")
        expect(page.locator("ol#messages")).to_be_attached()
        self.connected(page)

    def send(self, page: Page, text: str) -> None:
        """Type into the composer and press Enter."""
        box = page.locator("textarea#message-input")
        box.fill(text)
        box.press("Enter")

    def wait_stored(self, page: Page, text: str) -> None:
        """Wait until the bubble of `text` is the stored message, not the outbox's pending
        one (which shows at once, before the server answered)."""
        expect(self.message_with_text(page, text)).to_have_attribute("data-message-id", re.compile(r"\S"))

    def messages(self, page: Page) -> Any:
        return page.locator("ol#messages li.message")

    def message(self, page: Page, message_id: str) -> Any:
        return page.locator(f'ol#messages li.message[data-message-id="{message_id}"]')

    def message_with_text(self, page: Page, text: str) -> Any:
        """The message(s) whose text is exactly `text`."""
        exact = re.compile("^" + re.escape(text) + "$")
        return self.messages(page).filter(has=page.locator(".message-text", has_text=exact))

    def message_ids(self, page: Page) -> list[str]:
        return self.messages(page).evaluate_all("items => items.map(li => li.dataset.messageId)")

    def conversation_item(self, page: Page, conversation_id: str) -> Any:
        return page.locator(f'ul#conversation-list li[data-conversation-id="{conversation_id}"]')

    def quota_number(self, page: Page, testid: str) -> int:
        """A number shown in #quota ([data-testid=free-remaining] or [data-testid=points-balance])."""
        text = page.locator(f"#quota [data-testid={testid}]").inner_text()
        match = re.search(r"-?\d[\d,]*", text)
        assert match is not None, f"no number in #quota [data-testid={testid}]: {text!r}"
        return int(match.group(0).replace(",", ""))


@pytest.fixture
def ui(live_server: LiveServer) -> Ui:
    return Ui(live_server)


@pytest.fixture
def pair(live_server: LiveServer) -> tuple[Account, Account, str]:
    """Two new users (over REST) and their conversation's id."""
    alice = live_server.account("alice", display_name="Alice")
    bob = live_server.account("bob", display_name="Bob")
    return alice, bob, live_server.conversation(alice, bob)
