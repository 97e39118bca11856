"""Browser tests: the real server (`python wsgi.py`, eventlet) on a migrated SQLite file, driven by Chromium.

Playwright drives Debian's Chromium (/usr/bin/chromium); browser downloads are not
used. Without that browser the tests skip locally and fail in CI (CI=true).

The server is one process for the whole session, started the way `make run` starts
it, on a free port; `LiveServer.restart` brings it back on the same port and the
same database (optionally with its clock shifted through libfaketime).
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

TOP_LEVEL = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

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
PASSWORD = "password123"

TEST_JWT_SECRET = "e2e-test-secret-0123456789abcdefghijklmnopq"  # 43 characters
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0
# Settings of the outer environment that would change what these tests expect.
_INHERITED_SETTINGS = (
    "SOCKETIO_MESSAGE_QUEUE",
    "RATELIMIT_STORAGE_URI",
    "SEND_RATE_LIMIT",
    "APP_SALT",
    "JWT_ACCESS_TOKEN_EXPIRES",
    "MIN_EXPIRATION_HOURS",
    "MAX_EXPIRATION_HOURS",
    "MAX_MESSAGE_LENGTH",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_ADDRESS_FAILURE_LIMIT",
    "FAKETIME",
    "LD_PRELOAD",
)
# Lines in the server's output that always mean a bug on the server side.
LOG_ALARMS = ("Traceback", "unhandled error")

expect.set_options(timeout=WAIT_MS)


def fail_or_skip(reason: str) -> None:
    """Something the browser tests need is missing: a failure in CI, a skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true, so this fails instead of skipping)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique_name(prefix: str) -> str:
    """A username nobody has taken: `prefix_` and 8 hex digits."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- server


@dataclass
class Account:
    """A registered user of the live server, with a REST access token."""

    id: str
    username: str
    display_name: str
    token: str
    password: str = PASSWORD

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of this user."""
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class LiveServer:
    """`python wsgi.py` in a process group of its own, plus REST and CLI shortcuts."""

    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    clock_offset: str | None = None
    starts: int = 0
    _log_file: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- process

    def command(self) -> list[str]:
        command = [str(BIN / "python"), "wsgi.py", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.clock_offset:
            faketime = shutil.which("faketime")
            if faketime is None:
                fail_or_skip("libfaketime is not installed (apt-get install -y faketime)")
            command = [faketime, "-f", self.clock_offset, *command]
        return command

    def start(self, clock_offset: str | None = None) -> None:
        """Start the server (its clock shifted by `clock_offset`, e.g. "+2h") and wait for /healthz."""
        assert not self.running, "the server is already running"
        self.clock_offset = clock_offset
        self.starts += 1
        with open(self.log_path, "ab") as log_file:
            log_file.write(f"\n===== start #{self.starts} clock={clock_offset or 'real'} =====\n".encode())
            log_file.flush()
            self.process = subprocess.Popen(
                self.command(),
                cwd=TOP_LEVEL,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_ready()

    def stop(self) -> None:
        """Terminate the server's process group; kill it if it lingers."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
        else:
            self._signal(signal.SIGKILL)  # nothing of its group may survive
        self.process = None

    def restart(self, clock_offset: str | None = None) -> None:
        """Stop and start again on the same port and database."""
        self.stop()
        self.start(clock_offset)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _signal(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}; log:\n{self.log()[-20000:]}")
            try:
                response = requests.get(self.url + "/healthz", timeout=2)
                if response.status_code == 200:
                    return
                last_error = f"{response.status_code} {response.text[:200]}"
            except requests.RequestException as error:
                last_error = repr(error)
            time.sleep(0.1)
        pytest.fail(
            f"the server did not answer /healthz in {START_TIMEOUT}s ({last_error}); log:\n{self.log()}"
        )

    # -- its output

    def log(self, since: int = 0) -> str:
        """What the server printed, from byte offset `since`."""
        with open(self.log_path, "rb") as handle:
            handle.seek(since)
            return handle.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    # -- operator commands

    def flask(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`flask --app wsgi ARGS` against the test database (real clock); fails the test if it fails."""
        command = [str(BIN / "flask"), "--app", "wsgi", *args]
        result = subprocess.run(
            command, cwd=TOP_LEVEL, env=self.env, capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def grant(self, who: Account, amount: int) -> None:
        """`flask points grant USER AMOUNT`, as an operator would."""
        self.flask("points", "grant", who.username, str(amount))

    # -- REST

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        return requests.request(method, self.url + path, **kwargs)

    def login(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        """POST /api/auth/login (asserting 200); the whole answer."""
        response = self.request("POST", "/api/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return response.json()

    def account(self, prefix: str, display_name: str | None = None) -> Account:
        """Register (over REST) and log in a new user named `prefix_<hex>`."""
        username = unique_name(prefix)
        display_name = display_name or f"{prefix.capitalize()} {username[-4:]}"
        response = self.request(
            "POST",
            "/api/auth/register",
            json={"username": username, "password": PASSWORD, "displayName": display_name},
        )
        assert response.status_code == 201, response.text
        body = self.login(username)
        return Account(body["user"]["id"], username, display_name, body["accessToken"])

    def conversation(self, who: Account, other: Account) -> str:
        """Start (or find) the pair's conversation; its id."""
        response = self.request(
            "POST", "/api/conversations/create", json={"receiverId": other.id}, headers=who.headers
        )
        assert response.status_code in (200, 201), response.text
        return response.json()["conversation"]["id"]

    def send(self, who: Account, conversation_id: str, content: str, **extra: Any) -> dict[str, Any]:
        """POST /api/messages/send (asserting 201); the message."""
        response = self.request(
            "POST",
            "/api/messages/send",
            json={"conversationId": conversation_id, "content": content, **extra},
            headers=who.headers,
        )
        assert response.status_code == 201, response.text
        return response.json()["message"]

    def messages(self, who: Account, conversation_id: str) -> list[dict[str, Any]]:
        """The newest 100 messages of the conversation, as `who` sees them."""
        response = self.request(
            "GET",
            "/api/messages",
            params={"conversationId": conversation_id, "limit": 100},
            headers=who.headers,
        )
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def quota(self, who: Account) -> dict[str, Any]:
        """GET /api/messages/quota (asserting 200)."""
        response = self.request("GET", "/api/messages/quota", headers=who.headers)
        assert response.status_code == 200, response.text
        return response.json()


def server_env(database_url: str, instance_path: Path) -> dict[str, str]:
    """The environment of the server and of the CLI commands run against its database."""
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED_SETTINGS}
    env.update(
        APP_ENV="production",
        JWT_SECRET=TEST_JWT_SECRET,
        DATABASE_URL=database_url,
        PASSWORD_HASH_TIME_COST="1",
        PASSWORD_HASH_MEMORY_KIB="8",
        INSTANCE_PATH=str(instance_path),
        RATELIMIT_ENABLED="false",
        JWT_COOKIE_SECURE="false",  # the test server is plain http://127.0.0.1
        DAILY_FREE_MESSAGES="20",
        POINTS_PER_MESSAGE="10",
        INITIAL_POINTS="0",
        CONVERSATION_POINTS_COST="0",
        QUOTA_TIMEZONE="UTC",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of the system Chromium (skips locally, fails in CI, when it is missing)."""
    if not os.access(CHROMIUM, os.X_OK):
        fail_or_skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def live_server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The server on a freshly migrated SQLite database, for the whole session."""
    workdir = tmp_path_factory.mktemp("e2e")
    env = server_env(f"sqlite:///{workdir / 'e2e.db'}", workdir)
    server = LiveServer(port=free_port(), env=env, log_path=workdir / "server.log")
    server.log_path.touch()
    server.flask("db", "upgrade")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def server_health(request: pytest.FixtureRequest, live_server: LiveServer) -> Iterator[None]:
    """Each test starts on a running server with the real clock; server errors fail the test."""
    if not live_server.running or live_server.clock_offset:
        live_server.restart()
    since = live_server.log_size()
    yield
    text = live_server.log(since)
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(f"--- server log during {request.node.name} ---\n{text[-20000:]}")
        return
    alarms = [line for line in text.splitlines() if any(alarm in line for alarm in LOG_ALARMS)]
    assert not alarms, "the server logged errors during the test:\n" + text[-20000:]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so a fixture can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def playwright_driver(chromium: str) -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


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
    alice = live_server.account("alice")
    bob = live_server.account("bob")
    return alice, bob, live_server.conversation(alice, bob)
