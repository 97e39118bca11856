"""The deployment of deploy/: nginx terminating TLS in front of two app processes on Redis.

conftest.py renders the project's nginx site for loopback ports and starts the processes
with the systemd unit's command line and the example environment file (APP_ENV=production,
TRUSTED_PROXIES=1, JWT_COOKIE_SECURE=true). Clients trust a throwaway CA and connect from
loopback addresses of their own, so nginx sees them as different people. The rolling
restart and the outage run last: they stop the processes.
"""

import contextlib
import json
import socket
import ssl
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from deploy_harness import (
    NODE_MODULES,
    SERVER_NAME,
    STATIC_DIR,
    Deployment,
    HttpsClient,
    LoopbackSock,
    fresh_address,
    stop_like_systemd,
)
from support.forms import csrf_from
from support.rest import Account, unique_name
from support.servers import LiveServer
from support.settings import PASSWORD
from support.sockets import Sockets

import config
from app.web import VENDOR_FILES

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("deploy")]

HSTS = "max-age=63072000"
MIB = 1024 * 1024
MAX_ATTACHMENT_BYTES = config.Settings.model_fields["MAX_ATTACHMENT_BYTES"].default  # the example leaves it
NGINX_FAIL_TIMEOUT = 2.0  # the upstream's fail_timeout: a process that refused is skipped this long


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """`check()` as soon as it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (answer := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout}s")
        time.sleep(0.05)
    return answer


def count_lines(server: LiveServer, marker: str) -> int:
    """How many lines of a process's output contain `marker`."""
    return sum(marker in line for line in server.log().splitlines())


def new_lines(site: Deployment, marker: str, before: dict[str, int], total: int) -> dict[str, int]:
    """Per process, how many lines with `marker` were logged since `before`, once `total`
    were (a line is written just after its answer is sent); fail if they never are."""

    def counts() -> dict[str, int]:
        return {s.label: count_lines(s, marker) - before[s.label] for s in site.servers}

    wait_until(lambda: sum(counts().values()) >= total, 5, f"{total} new {marker!r} lines were not logged")
    return counts()


def line_counts(site: Deployment, marker: str) -> dict[str, int]:
    """Per process, how many lines with `marker` it logged so far."""
    return {s.label: count_lines(s, marker) for s in site.servers}


def is_app_error(response: requests.Response, code: str) -> bool:
    """Whether the answer is the app's JSON error `code` (with the headers only the app sets)."""
    return (
        response.headers.get("Content-Type", "").startswith("application/json")
        and response.json().get("error", {}).get("code") == code
        and "Content-Security-Policy" in response.headers
    )


# --------------------------------------------------------------------------- HTTP and TLS


def test_plain_http_redirects_to_https_except_acme_challenges(site: Deployment) -> None:
    session = site.session()
    marker = uuid.uuid4().hex
    for method, path in [
        ("GET", f"/c/{marker}?a=1&b=2"),
        ("POST", f"/api/auth/login?{marker}"),
        ("GET", "/"),
    ]:
        response = session.request(method, site.http_url + path, allow_redirects=False, timeout=10)
        assert response.status_code == 301, (method, path, response.status_code)
        assert response.headers["Location"] == site.https_url + path
    assert not any(count_lines(server, marker) for server in site.servers), "plain HTTP reached the app"

    token = uuid.uuid4().hex
    (site.acme_root / ".well-known" / "acme-challenge" / token).write_text(f"{token}.key-authorization")
    response = session.get(f"{site.http_url}/.well-known/acme-challenge/{token}", timeout=10)
    assert response.status_code == 200
    assert response.text == f"{token}.key-authorization"


def handshake(
    site: Deployment,
    version: ssl.TLSVersion,
    ciphers: str = "ALL:@SECLEVEL=0",
    server_name: str = SERVER_NAME,
) -> tuple[str, str]:
    """A TLS handshake with nginx offering only `version` (and `ciphers` below TLS 1.3):
    the protocol and cipher it agreed on; ssl.SSLError when nginx refused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(site.certificates.ca)
    with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated: offered on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    context.set_ciphers(ciphers)  # SECLEVEL=0: let the client offer what nginx must refuse
    with (
        socket.create_connection(("127.0.0.1", site.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        return str(tls.version()), tls.cipher()[0]


def test_tls_is_1_2_or_1_3_with_forward_secret_aead_ciphers_only(site: Deployment) -> None:
    assert handshake(site, ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
    version, cipher = handshake(site, ssl.TLSVersion.TLSv1_2)
    assert version == "TLSv1.2"
    assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher

    # The client offers them; nginx answers with a protocol_version alert (Debian's
    # nginx.conf allows them at the http level: the site's own setting wins).
    old_versions = [getattr(ssl.TLSVersion, name) for name in ("TLSv1", "TLSv1_1")]
    for version_offered in old_versions:
        with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"):
            handshake(site, version_offered)
    # TLS 1.2 with CBC or without forward secrecy: no shared cipher.
    with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"):
        handshake(site, ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-SHA:AES128-GCM-SHA256:AES128-SHA")
    # Another name (or none): no handshake at all, so no certificate or page to show.
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        handshake(site, ssl.TLSVersion.TLSv1_3, server_name="other.example")


def test_the_certificate_is_checked_against_the_test_ca(site: Deployment) -> None:
    assert site.session().get(f"{site.https_url}/healthz", timeout=10).json() == {"status": "ok"}
    untrusting = requests.Session()
    untrusting.trust_env = False  # the system's CA bundle, which does not know the test CA
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusting.get(f"{site.https_url}/healthz", timeout=10)


def test_every_https_answer_carries_hsts(site: Deployment) -> None:
    session = site.session()
    answers = {
        "the app's JSON": session.get(f"{site.https_url}/healthz", timeout=10),
        "the app's page": session.get(f"{site.https_url}/login", timeout=10),
        "the app's 404": session.get(f"{site.https_url}/api/{uuid.uuid4().hex}", timeout=10),
        "a static file": session.get(f"{site.https_url}/static/css/app.css", timeout=10),
        "nginx's 413": session.post(f"{site.https_url}/api/auth/login", data=b"x" * (27 * MIB), timeout=30),
    }
    for what, response in answers.items():
        assert response.headers.get("Strict-Transport-Security") == HSTS, (what, response.headers)
    assert answers["nginx's 413"].status_code == 413


def test_static_files_come_from_nginx_and_are_revalidated(site: Deployment) -> None:
    session = site.session()
    marker = uuid.uuid4().hex
    url = f"{site.https_url}/static/js/app.js?{marker}"
    response = session.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == (STATIC_DIR / "js" / "app.js").read_bytes()
    assert response.headers["Content-Type"].startswith("application/javascript")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    again = session.get(url, headers={"If-None-Match": response.headers["ETag"]}, timeout=10)
    assert again.status_code == 304
    assert not any(count_lines(server, marker) for server in site.servers), "the app served a static file"


# What the app sends with /sw.js and /vendor/ files, which nginx must send alike (a
# service worker takes its Content-Security-Policy from its script's response).
APP_HEADERS = (
    "Content-Type",
    "Cache-Control",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
)


@pytest.mark.parametrize(
    ("path", "source"),
    [("/sw.js", STATIC_DIR / "js" / "sw.js")]
    + [(f"/vendor/{name}", NODE_MODULES / folder / name) for name, folder in VENDOR_FILES.items()],
)
def test_the_service_worker_and_the_vendor_files_come_from_nginx_with_the_apps_headers(
    site: Deployment, path: str, source: Path
) -> None:
    session = site.session()
    marker = uuid.uuid4().hex
    response = session.get(f"{site.https_url}{path}?{marker}", timeout=10)
    assert response.status_code == 200
    assert response.content == source.read_bytes()
    direct = requests.Session()
    direct.trust_env = False
    from_app = direct.get(f"{site.servers[0].url}{path}", timeout=10)  # the app itself, no nginx
    assert from_app.status_code == 200 and from_app.content == response.content
    for name in APP_HEADERS:
        assert response.headers.get(name) == from_app.headers.get(name), (name, response.headers)
    assert response.headers["Strict-Transport-Security"] == HSTS
    again = session.get(
        f"{site.https_url}{path}?{marker}", headers={"If-None-Match": response.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304
    assert not any(count_lines(server, marker) for server in site.servers), f"the app served {path}"


def test_other_vendor_paths_still_get_the_apps_404(site: Deployment) -> None:
    marker = uuid.uuid4().hex
    response = site.session().get(f"{site.https_url}/vendor/socket.io.js?{marker}", timeout=10)
    assert response.status_code == 404 and is_app_error(response, "not_found"), response.text[:300]
    assert response.headers["Strict-Transport-Security"] == HSTS


# --------------------------------------------------------------------------- the app over HTTPS


def test_rest_works_over_https(site: Deployment) -> None:
    client = site.client()
    alice, bob = client.account("alice"), client.account("bob")
    chat = client.conversation(alice, bob)
    sent = client.sent(alice, chat, "over TLS")["message"]
    assert [m["id"] for m in client.all_messages(bob, chat)] == [sent["id"]]
    me = client.request("GET", "/api/auth/me", headers=alice.headers)
    assert me.status_code == 200 and me.headers["Cache-Control"] == "no-store"


def test_the_web_login_sets_only_secure_cookies(site: Deployment) -> None:
    client = site.client()
    username = unique_name("web")
    assert client.register(username).status_code == 201
    session = site.session()
    form = session.get(f"{site.https_url}/login", timeout=10)
    response = session.post(
        f"{site.https_url}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_from(form.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    set_cookies = form.raw.headers.getlist("Set-Cookie") + response.raw.headers.getlist("Set-Cookie")
    names = {line.split("=", 1)[0] for line in set_cookies}
    assert {"access_token_cookie", "csrf_access_token"} <= names, set_cookies
    for line in set_cookies:
        assert "; Secure" in line, line
    access = next(line for line in set_cookies if line.startswith("access_token_cookie="))
    assert "; HttpOnly" in access and "SameSite=Lax" in access, access
    home = session.get(f"{site.https_url}/", allow_redirects=False, timeout=10)
    assert home.status_code == 200, "the Secure cookie did not bring the user back over HTTPS"


# --------------------------------------------------------------------------- Socket.IO


def test_a_browser_websocket_over_wss_is_accepted_and_other_origins_are_not(
    site: Deployment, sockets: Sockets
) -> None:
    client = site.client()
    alice, bob = client.account("alice"), client.account("bob")
    chat = client.conversation(alice, bob)
    # websocket-client sends the page's own origin, https://localhost:PORT, as a browser
    # would: the app compares it with the scheme and Host that nginx forwards.
    bob_socket = site.open_socket(sockets, bob, fresh_address())
    sent = client.sent(alice, chat, "over wss")["message"]
    assert bob_socket.wait_for("message:new", lambda m: m["id"] == sent["id"])["content"] == "over wss"

    spoofed = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    for headers in ({}, spoofed):
        with pytest.raises(socketio.exceptions.ConnectionError):
            site.open_socket(sockets, bob, fresh_address(), origin="https://evil.example", headers=headers)

    # Why nginx drops X-Forwarded-Host: the app (Engine.IO) would believe it.
    direct = sockets.new("bob without nginx", origin="https://evil.example")
    direct.connect(site.servers[0].url, token=bob.token, headers=spoofed)
    assert direct.connected


def polling_socket_process(site: Deployment, sock: LoopbackSock) -> LiveServer:
    """The process whose access log shows the long-polling session of `sock`."""
    sid = sock.engineio_sid
    assert sid
    return wait_until(
        lambda: next((s for s in site.servers if count_lines(s, f"sid={sid}")), None),
        5,
        f"no process logged sid {sid}",
    )


def test_long_polling_sessions_stay_on_one_process_and_both_processes_hold_some(
    site: Deployment, sockets: Sockets
) -> None:
    client = site.client()
    alice, bob = client.account("alice"), client.account("bob")
    chat = client.conversation(alice, bob)
    held: dict[str, list[LoopbackSock]] = {server.label: [] for server in site.servers}
    for _ in range(30):  # clients from new addresses until each process holds two
        if all(len(socks) >= 2 for socks in held.values()):
            break
        sock = site.open_socket(sockets, bob, fresh_address(), transports=("polling",))
        held[polling_socket_process(site, sock).label].append(sock)
    assert all(len(socks) >= 2 for socks in held.values()), {k: len(v) for k, v in held.items()}

    sent = client.sent(alice, chat, "to every long-polling client")["message"]
    for label, socks in held.items():
        for sock in socks:
            sock.wait_for("message:new", lambda m: m["id"] == sent["id"])
            assert sock.connected, f"{sock.label} on {label} was dropped"
            sid = f"sid={sock.engineio_sid}"

            def counts(sid: str = sid) -> dict[str, int]:
                return {server.label: count_lines(server, sid) for server in site.servers}

            # Every request of the session (the handshake's POST, each poll) on its process;
            # a busy machine may take a moment to log the third.
            wait_until(lambda label=label: counts()[label] >= 3, 10, f"{sock.label}: three requests logged")
            found = counts()
            assert sum(found.values()) == found[label], (sock.label, found)


def test_a_message_sent_through_one_process_reaches_a_socket_held_by_the_other(
    site: Deployment, sockets: Sockets
) -> None:
    client = site.client()
    alice, bob = client.account("alice"), client.account("bob")
    chat = client.conversation(alice, bob)
    first, second = site.servers
    for sending, holding in ((first, second), (second, first)):
        sender = HttpsClient(site.https_url, site.certificates.ca, site.address_on(sending))
        # Long-polling first (its handshake, marked, is in the access log), then upgraded
        # to a websocket, as the browser's client does; the upgrade must reach the process
        # that holds the session.
        marker = f"held-{uuid.uuid4().hex}"
        bob_socket = site.open_socket(
            sockets, bob, site.address_on(holding), transports=("polling", "websocket"), query=marker
        )
        no_lines = dict.fromkeys(line_counts(site, marker), 0)
        assert new_lines(site, marker, no_lines, 1) == {sending.label: 0, holding.label: 1}
        wait_until(
            lambda s=bob_socket: s.client.eio.current_transport == "websocket", 5, "no upgrade to a websocket"
        )
        before = line_counts(site, "POST /api/messages/send")
        sent = sender.sent(alice, chat, f"from {sending.label}")["message"]
        sends = new_lines(site, "POST /api/messages/send", before, 1)
        assert sends == {sending.label: 1, holding.label: 0}
        received = bob_socket.wait_for("message:new", lambda m, i=sent["id"]: m["id"] == i)
        assert received["content"] == sent["content"]
        assert bob_socket.client.eio.current_transport == "websocket"


# --------------------------------------------------------------------------- who the app sees


def spoofed_headers(n: int) -> dict[str, str]:
    """Headers with which a client claims to be someone else (a new address each time)."""
    address = f"203.0.113.{n % 250 + 1}"
    return {"X-Forwarded-For": address, "X-Real-IP": address, "Forwarded": f"for={address}"}


def test_the_login_throttle_counts_each_clients_own_address_and_not_the_one_it_claims(
    site: Deployment,
) -> None:
    victim = site.account("victim")
    attacker = site.client()  # LOGIN_FAILURE_LIMIT: 5 per 15 minutes per (username, address)
    for n in range(5):
        response = attacker.login(victim.username, "wrong password!", headers=spoofed_headers(n))
        assert response.status_code == 401, response.text
    # Claiming yet another address does not help: nginx passes the one it saw.
    throttled = attacker.login(victim.username, headers=spoofed_headers(99))
    assert throttled.status_code == 429, throttled.text
    assert int(throttled.headers["Retry-After"]) > 0
    # The owner, elsewhere, is not locked out: the app does not see everyone as nginx.
    assert site.client().login(victim.username).status_code == 200


def register(client: HttpsClient, headers: dict[str, str]) -> requests.Response:
    """POST /api/auth/register of a new username, with extra request headers."""
    body = {"username": unique_name("crowd"), "password": PASSWORD}
    return client.request("POST", "/api/auth/register", json=body, headers=headers)


def test_the_registration_limit_counts_each_clients_own_address(site: Deployment) -> None:
    crowd = site.client()  # REGISTER_RATE_LIMIT: 30 per hour per address
    for n in range(30):
        response = register(crowd, spoofed_headers(n))
        assert response.status_code == 201, (n, response.text)
    refused = register(crowd, spoofed_headers(99))
    assert refused.status_code == 429 and is_app_error(refused, "rate_limited"), refused.text
    assert register(site.client(), {}).status_code == 201


# --------------------------------------------------------------------------- uploads


def test_a_25_mib_upload_passes_through_nginx_and_a_larger_body_stops_there(site: Deployment) -> None:
    client = site.client()
    alice = client.account("alice")
    data = b"plain text, not an image\n" * (MAX_ATTACHMENT_BYTES // 25)
    data += b"." * (MAX_ATTACHMENT_BYTES - len(data))

    def upload(extra: int) -> requests.Response:
        body = {"file": ("notes.txt", data + b"." * extra, "text/plain")}
        return client.request("POST", "/api/attachments", files=body, headers=alice.headers, timeout=60)

    before = line_counts(site, "POST /api/attachments")
    response = upload(0)
    reached = new_lines(site, "POST /api/attachments", before, 1)
    assert sum(reached.values()) == 1, f"the upload reached {reached}"
    assert response.status_code == 201, response.text[:500]
    assert response.json()["attachment"]["size"] == MAX_ATTACHMENT_BYTES

    # Over the app's limit but not nginx's: the app answers before reading the body, and
    # its answer arrives. (On connections closed after each request gunicorn reset them
    # with the body unread, and nginx answered 502 to a quarter to a half of these.)
    for _ in range(6):
        early = upload(256 * 1024)
        assert is_app_error(early, "attachment_too_large"), (early.status_code, early.text[:300])
    for _ in range(4):  # JSON endpoints take 64 KiB
        headers = alice.headers | {"Content-Type": "application/json"}
        early = client.request("POST", "/api/messages/send", data=data, headers=headers, timeout=60)
        assert is_app_error(early, "payload_too_large"), (early.status_code, early.text[:300])

    before = line_counts(site, "POST /api/attachments")
    refused = upload(2 * MIB)
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
    assert "Content-Security-Policy" not in refused.headers, "the app answered, not nginx"
    assert client.request("GET", "/healthz").status_code == 200  # logged after any earlier request
    time.sleep(0.5)
    assert line_counts(site, "POST /api/attachments") == before, "the larger body reached the app"


# --------------------------------------------------------------------------- restarts


@dataclass
class Device:
    """One of a user's devices: a socket from its own address that reconnects when dropped
    and then catches up with `GET /api/messages?after=<newest it has>`, as clients do."""

    site: Deployment
    sockets: Sockets
    who: Account
    chat: str
    transports: tuple[str, ...]
    source: str = field(default_factory=fresh_address)
    socks: list[LoopbackSock] = field(default_factory=list)
    fetched: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """What failures call it."""
        return f"{'+'.join(self.transports)} device at {self.source}"

    def messages(self) -> dict[str, dict[str, Any]]:
        """Every message it has, by id: received on any of its sockets, or fetched."""
        found = dict(self.fetched)
        for sock in self.socks:
            found |= {m["id"]: m for m in sock.payloads("message:new")}
        return found

    def keep_up(self, timeout: float = 30.0) -> None:
        """Reconnect if dropped (retrying until a process takes it), then catch up."""
        if self.socks and self.socks[-1].connected:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = self.site.open_socket(self.sockets, self.who, self.source, transports=self.transports)
                break
            except (socketio.exceptions.ConnectionError, OSError) as error:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.label} could not reconnect: {error!r}") from error
                time.sleep(0.2)
        self.socks.append(sock)
        self.catch_up(deadline)

    def catch_up(self, deadline: float) -> None:
        """Fetch what it missed, page by page, retrying answers of a restarting service."""
        client = HttpsClient(self.site.https_url, self.site.certificates.ca, self.source)
        while True:
            known = self.messages()
            newest = max(known.values(), key=lambda m: m["seq"], default=None)
            params = {"limit": 100} | ({"after": newest["id"]} if newest else {})
            try:
                response = client.messages(self.who, self.chat, **params)
            except requests.RequestException as error:
                response, problem = None, repr(error)
            else:
                problem = f"{response.status_code} {response.text[:200]}"
            if response is not None and response.status_code == 200:
                page = response.json()
                self.fetched |= {m["id"]: m for m in page["messages"]}
                if not page["hasMore"]:
                    return
                continue
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.label} could not catch up: {problem}")
            time.sleep(0.2)

    def run(self, stop: threading.Event) -> None:
        """Keep up until `stop`; what went wrong lands in `problems`."""
        while not stop.is_set():
            try:
                self.keep_up()
            except Exception as error:
                self.problems.append(repr(error))
                return
            stop.wait(0.05)


@dataclass
class Sender:
    """Sends numbered messages with clientMessageIds, retrying each until it is answered."""

    client: HttpsClient
    who: Account
    chat: str
    pace: float
    most: int
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # clientMessageId -> message
    first_tries: list[float] = field(default_factory=list)  # when each message was first tried
    retries: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def send_one(self, number: int, timeout: float = 30.0) -> None:
        """Send message `number` until 201 (or 200: a retry of one already stored)."""
        client_id = f"rolling-{number}"
        deadline = time.monotonic() + timeout
        self.first_tries.append(time.monotonic())
        while True:
            try:
                response = self.client.send(
                    self.who, self.chat, f"message {number}", clientMessageId=client_id
                )
            except requests.RequestException as error:
                outcome = repr(error)
            else:
                if response.status_code in (200, 201):
                    self.sent[client_id] = response.json()["message"]
                    return
                outcome = f"{response.status_code} {response.text[:200]}"
            self.retries.append(f"{client_id}: {outcome}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{client_id} was never stored; last answer {outcome}")
            time.sleep(0.2)

    def run(self, stop: threading.Event) -> None:
        """Send until `stop` (or `most` messages)."""
        try:
            for number in range(self.most):
                if stop.is_set():
                    return
                self.send_one(number)
                stop.wait(self.pace)
        except Exception as error:
            self.problems.append(repr(error))


def test_a_rolling_restart_loses_no_message_and_stores_none_twice(site: Deployment, sockets: Sockets) -> None:
    client = site.client()
    alice, bob = client.account("alice"), client.account("bob")
    chat = client.conversation(alice, bob)
    site.servers[0].grant(alice, 5000)  # past the 20 free messages of the day
    first, second = site.servers
    # Bob's devices: a websocket and a long-polling client on each process.
    devices = [
        Device(site, sockets, bob, chat, transports, source=site.address_on(server))
        for server in (first, second)
        for transports in (("websocket",), ("polling",))
    ]
    for device in devices:
        device.keep_up()
    # Within SEND_RATE_LIMIT (120 a minute, retries included) for the whole restart.
    sender = Sender(client, alice, chat, pace=0.25, most=110)
    stop_sending, stop_devices = threading.Event(), threading.Event()
    threads = [threading.Thread(target=sender.run, args=(stop_sending,), daemon=True)]
    threads += [threading.Thread(target=d.run, args=(stop_devices,), daemon=True) for d in devices]
    for thread in threads:
        thread.start()

    downtimes = []
    time.sleep(1.0)
    for server in (first, second):  # README, "Deploy": one process at a time
        down = time.monotonic()
        code, took = stop_like_systemd(server)
        assert code == 0, f"{server.label} exited with {code}"  # within TimeoutStopSec: no SIGKILL
        server.start()
        downtimes.append((down, time.monotonic()))
        print(f"{server.label}: stopped in {took:.1f}s, back after {time.monotonic() - down:.1f}s")
        time.sleep(NGINX_FAIL_TIMEOUT + 1.0)  # nginx sends to it again before the next stop
    stop_sending.set()
    threads[0].join(timeout=40)
    assert not sender.problems, sender.problems
    time.sleep(1.0)  # the last events arrive
    stop_devices.set()
    for thread in threads[1:]:
        thread.join(timeout=40)

    for down, up in downtimes:  # messages were sent while each process was down
        assert any(down <= t <= up for t in sender.first_tries), (downtimes, sender.first_tries)
    stored = client.all_messages(bob, chat)
    client_ids = [m["clientMessageId"] for m in stored]
    assert sorted(client_ids) == sorted(sender.sent), "a message was lost or stored twice"
    assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1))
    expected = {m["id"] for m in stored}
    for device in devices:
        assert not device.problems, (device.label, device.problems)
        device.keep_up()
        device.catch_up(time.monotonic() + 10)
        assert set(device.messages()) == expected, f"{device.label} missed messages"
        assert len(device.socks) >= 2, f"{device.label} was never dropped: the restart did not reach it"
        for sock in device.socks:  # a retried send is not emitted again
            ids = [m["id"] for m in sock.payloads("message:new")]
            assert len(ids) == len(set(ids)), f"{sock.label} got a message twice"
    print(f"{len(stored)} messages, {len(sender.retries)} retried sends: {sender.retries[:10]}")


def test_with_every_process_down_clients_get_the_api_503_then_service_resumes(site: Deployment) -> None:
    session = site.session()
    for server in site.servers:
        assert stop_like_systemd(server)[0] == 0
    try:
        response = session.get(f"{site.https_url}/api/conversations", timeout=10)
        assert response.status_code == 503
        assert json.loads(response.text)["error"]["code"] == "service_unavailable"
        assert response.headers["Retry-After"] == "1"
        assert response.headers["Strict-Transport-Security"] == HSTS
    finally:
        for server in site.servers:
            with contextlib.suppress(AssertionError):
                server.start(wait=False)
        for server in site.servers:
            server.wait_until_ready()
    wait_until(
        lambda: session.get(f"{site.https_url}/healthz", timeout=10).status_code == 200,
        NGINX_FAIL_TIMEOUT + 5,
        "nginx did not send to the restarted processes",
    )
