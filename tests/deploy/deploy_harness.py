"""The pieces of the deployment tests: deploy/'s files read for this checkout, a throwaway
CA, nginx run from a prefix in tmp, app processes started with the unit's command line,
and clients that reach nginx over HTTPS from loopback addresses of their own.

127.0.0.0/8 is all loopback on Linux: a client bound to 127.0.1.7 is, to nginx, another
client than one bound to 127.0.1.8, as people on the internet would be.
"""

import contextlib
import itertools
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import socketio
from requests.adapters import HTTPAdapter
from support.alarms import alarm_line_numbers, alarm_report
from support.processes import BIN, TOP_LEVEL, CommandFailed
from support.pytest_live import fail_or_skip
from support.rest import Account, RestClient
from support.servers import Launcher, LiveServer
from support.settings import TEST_VAPID_PRIVATE_KEY
from support.sockets import Sock, Sockets

DEPLOY = TOP_LEVEL / "deploy"
RENDER = DEPLOY / "nginx" / "render.py"
UNITS = DEPLOY / "systemd"
ENV_EXAMPLE = DEPLOY / "messaging.env.example"
INSTALL_ROOT = "/opt/messaging"  # where the units expect the checkout (README, "Deploy")
SERVER_NAME = "localhost"  # resolves to 127.0.0.1 without DNS; the certificate names it
STATIC_DIR = TOP_LEVEL / "app" / "static"
NODE_MODULES = TOP_LEVEL / "node_modules"  # where the app finds the socket.io client (npm ci)
NGINX_START_TIMEOUT = 10.0


# --------------------------------------------------------------------------- files of deploy/


def read_env_file(path: Path) -> dict[str, str]:
    """The assignments of an EnvironmentFile= (comments and blank lines skipped, quotes removed)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def exec_start(unit: Path, instance: str = "") -> list[str]:
    """A unit's ExecStart= as a command line for this checkout: the install root becomes
    the repository, the virtualenv this one, `%i` the instance."""
    text = unit.read_text().replace("\\\n", " ")
    match = re.search(r"^ExecStart=(.+)$", text, re.MULTILINE)
    assert match is not None, f"{unit.name} has no ExecStart="
    command = shlex.split(match.group(1).replace("%i", instance))
    venv_bin = f"{INSTALL_ROOT}/.venv/bin/"
    assert command[0].startswith(venv_bin), command[0]
    return [str(BIN / command[0].removeprefix(venv_bin)), *command[1:]]


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and the server's certificate and key (PEM files)."""

    ca: Path
    cert: Path
    key: Path


def openssl(*args: str, cwd: Path) -> None:
    """Run openssl; CommandFailed with its output if it fails."""
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CommandFailed(f"openssl {' '.join(args)}: {result.stderr}")


def make_certificates(directory: Path, name: str) -> Certificates:
    """A CA (P-256, two days) and a server certificate for `name` signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    key_options = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *key_options, "-days", "2", "-subj", "/CN=messaging deploy test CA",
            "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)  # fmt: skip
    openssl("req", *key_options, "-subj", f"/CN={name}", "-keyout", "server.key", "-out", "server.csr",
            cwd=directory)  # fmt: skip
    (directory / "server.ext").write_text(
        f"subjectAltName=DNS:{name}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "2",
            "-days", "2", "-extfile", "server.ext", "-out", "server.pem", cwd=directory)  # fmt: skip
    return Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")


# --------------------------------------------------------------------------- nginx


def nginx_binary() -> str:
    """nginx's path (Debian installs it in /usr/sbin, which a user's PATH may lack)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        fail_or_skip("nginx is not installed (apt-get install -y nginx; scripts/provision-test-deps does)")
    assert found is not None
    return found


class Nginx:
    """nginx with the rendered site file, run in the foreground from a prefix of its own."""

    def __init__(self, binary: str, workdir: Path, render_args: list[str]) -> None:
        self.binary = binary
        self.workdir = workdir
        self.render_args = render_args
        self.site = workdir / "messaging.conf"
        self.main = workdir / "nginx.conf"
        self.error_log = workdir / "error.log"
        self.access_log = workdir / "access.log"
        self.process: subprocess.Popen[bytes] | None = None

    def render(self) -> None:
        """Render the site file with deploy/nginx/render.py, as the README does."""
        result = subprocess.run(
            [sys.executable, str(RENDER), *self.render_args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise CommandFailed(f"render.py failed: {result.stderr}")
        self.site.write_text(result.stdout)

    def main_config(self) -> str:
        """The main nginx.conf around the site file: Debian's http-level TLS defaults (the
        site must override them), every path in the prefix, no daemon."""
        temp = self.workdir / "temp"
        paths = {kind: temp / kind for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in paths.values():
            path.mkdir(parents=True, exist_ok=True)
        mime_types = Path("/etc/nginx/mime.types")
        types = (
            f"include {mime_types};"
            if mime_types.exists()
            else "types { text/css css; application/javascript js; }"
        )
        # As root nginx would hand its workers to `nobody`, who cannot read the tmp prefix.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        return (
            f"{user}worker_processes 1;\npid {self.workdir / 'nginx.pid'};\n"
            f"error_log {self.error_log} info;\nevents {{ worker_connections 1024; }}\n"
            "http {\n"
            f"    {types}\n    default_type application/octet-stream;\n"
            "    # What Debian's /etc/nginx/nginx.conf sets for every site.\n"
            "    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;\n    ssl_prefer_server_ciphers on;\n"
            "    sendfile on;\n    gzip on;\n"
            f"    access_log {self.access_log};\n"
            f"    client_body_temp_path {paths['client_body']};\n    proxy_temp_path {paths['proxy']};\n"
            f"    fastcgi_temp_path {paths['fastcgi']};\n    uwsgi_temp_path {paths['uwsgi']};\n"
            f"    scgi_temp_path {paths['scgi']};\n"
            f"    include {self.site};\n"
            "}\n"
        )

    def command(self, *extra: str) -> list[str]:
        """nginx with this prefix and main file."""
        prefix = f"{self.workdir}/"
        return [self.binary, "-p", prefix, "-c", str(self.main), "-e", str(self.error_log), *extra]

    def start(self, https_port: int) -> None:
        """Render, check (`nginx -t`), start and wait until the HTTPS port accepts connections."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.render()
        self.main.write_text(self.main_config())
        check = subprocess.run(self.command("-t"), capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise CommandFailed(
                f"nginx -t refused the configuration:\n{check.stderr}\n{self.site.read_text()}"
            )
        with open(self.workdir / "nginx.out", "ab") as output:
            self.process = subprocess.Popen(
                self.command("-g", "daemon off;"),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + NGINX_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CommandFailed(f"nginx exited ({self.process.returncode}):\n{self.errors()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", https_port), timeout=1):
                return
            time.sleep(0.05)
        raise CommandFailed(f"nginx did not listen on {https_port}:\n{self.errors()}")

    def stop(self) -> None:
        """Graceful stop (SIGQUIT), then SIGKILL if it lingers."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def errors(self) -> str:
        """nginx's error log (its notices too)."""
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""


# --------------------------------------------------------------------------- clients


_addresses = itertools.count()


def fresh_address() -> str:
    """A loopback address no other client of this session used (127.0.1.1, 127.0.1.2, ...)."""
    n = next(_addresses)
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


class SourceAddressAdapter(HTTPAdapter):
    """requests' adapter whose connections leave from one local address."""

    def __init__(self, source: str) -> None:
        self.source = source  # before HTTPAdapter.__init__, which builds the pool manager
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Bind every connection to the source address."""
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def https_session(ca: Path, source: str) -> requests.Session:
    """A requests session from `source` that trusts the test CA (and only it: the
    environment's REQUESTS_CA_BUNDLE and proxies are ignored)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca)
    session.mount("https://", SourceAddressAdapter(source))
    session.mount("http://", SourceAddressAdapter(source))
    return session


class HttpsClient(RestClient):
    """The REST client of support.rest, from one loopback address, trusting the test CA."""

    def __init__(self, url: str, ca: Path, source: str) -> None:
        super().__init__(url)
        self.ca = ca
        self.source = source

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request on this thread's kept connection (from `source`)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = https_session(self.ca, self.source)
            self._sessions.append(session)
        kwargs.setdefault("timeout", self.timeout)
        return session.request(method, self.url + path, **kwargs)


class LoopbackSock(Sock):
    """A recording Socket.IO client (support.sockets) connecting from one loopback address."""

    def __init__(self, label: str, session: requests.Session, websocket_options: dict[str, Any]) -> None:
        super().__init__(label)
        self.client = socketio.Client(
            reconnection=False, http_session=session, websocket_extra_options=websocket_options
        )
        self.client.on("*", self._record)
        self.client.on("connect_error", self._refused)
        self.client.on("disconnect", self._gone)

    @property
    def engineio_sid(self) -> str | None:
        """The Engine.IO session id (`sid=` in the long-polling URLs)."""
        return self.client.eio.sid


def tls_connection(port: int, source: str, ca: Path) -> ssl.SSLSocket:
    """A TLS connection to nginx from `source`, for a websocket (websocket-client cannot bind)."""
    context = ssl.create_default_context(cafile=str(ca))
    raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    return context.wrap_socket(raw, server_hostname=SERVER_NAME)


# --------------------------------------------------------------------------- the deployment


@dataclass
class Deployment:
    """nginx on two loopback ports in front of two app processes."""

    nginx: Nginx
    servers: list[LiveServer]
    certificates: Certificates
    http_port: int
    https_port: int
    acme_root: Path

    @property
    def https_url(self) -> str:
        """The site, as browsers reach it."""
        return f"https://{SERVER_NAME}:{self.https_port}"

    @property
    def http_url(self) -> str:
        """The plain-HTTP side (redirects and ACME challenges)."""
        return f"http://{SERVER_NAME}:{self.http_port}"

    def client(self, source: str | None = None) -> HttpsClient:
        """A REST client from `source` (default: an address of its own)."""
        return HttpsClient(self.https_url, self.certificates.ca, source or fresh_address())

    def session(self, source: str | None = None) -> requests.Session:
        """A bare requests session from `source` (default: an address of its own), trusting the CA."""
        return https_session(self.certificates.ca, source or fresh_address())

    def account(self, prefix: str = "u") -> Account:
        """A new user, registered and logged in from an address of its own (the
        registration limit counts per address)."""
        return self.client().account(prefix)

    def logged_lines(self, server: LiveServer, marker: str) -> list[str]:
        """The lines of a process's output that contain `marker`."""
        return [line for line in server.log().splitlines() if marker in line]

    def process_of(self, source: str, timeout: float = 5.0) -> LiveServer:
        """The process nginx sends `source`'s requests to (a marked /healthz in its access log)."""
        marker = f"probe-{uuid.uuid4().hex}"
        response = self.client(source).request("GET", f"/healthz?{marker}")
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [server for server in self.servers if self.logged_lines(server, marker)]
            if found:
                assert len(found) == 1, f"{marker} reached both processes"
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no process logged {marker}")

    def address_on(self, server: LiveServer, tries: int = 40) -> str:
        """A fresh loopback address whose requests nginx sends to `server`."""
        for _ in range(tries):
            source = fresh_address()
            if self.process_of(source) is server:
                return source
        raise AssertionError(f"no address of {tries} hashed to {server.label}")

    def open_socket(
        self,
        sockets: Sockets,
        who: Account,
        source: str,
        *,
        transports: tuple[str, ...] = ("websocket",),
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        query: str = "",
        label: str | None = None,
    ) -> LoopbackSock:
        """A Socket.IO client of `who` through nginx from `source`; raises socketio's
        ConnectionError if refused (the refusal is in `.refusal`)."""
        options: dict[str, Any] = {}
        if origin is not None:
            options["origin"] = origin  # websocket-client sends Origin: https://localhost:PORT otherwise
        if "websocket" in transports:  # the websocket, or the upgrade of a long-polling session
            options["socket"] = tls_connection(self.https_port, source, self.certificates.ca)
        sock = LoopbackSock(
            label or f"{who.username}@{source}", https_session(self.certificates.ca, source), options
        )
        sockets.opened.append(sock)
        all_headers = dict(headers or {})
        if origin is not None and transports[0] == "polling":
            all_headers["Origin"] = origin
        url = f"{self.https_url}/?{query}" if query else self.https_url  # in the handshake's request line
        sock.connect(url, token=who.token, headers=all_headers, transports=transports)
        return sock


def stop_timeout() -> float:
    """messaging@.service's TimeoutStopSec (seconds): how long systemd lets a stop take."""
    unit = (UNITS / "messaging@.service").read_text()
    match = re.search(r"^TimeoutStopSec=(\d+)s?$", unit, re.MULTILINE)
    assert match is not None, "messaging@.service has no TimeoutStopSec= in seconds"
    return float(match.group(1))


# gunicorn 25's eventlet worker, stopping, may accept a connection just before it closes
# its listening socket and handle it just after: `listener.getsockname()` fails (EBADF),
# the connection is closed unanswered (nginx passes the request to the other process, or
# the client retries) and gunicorn logs the traceback. More connections arrive at a stop
# behind nginx than in the other suites, so these tests meet it.
GUNICORN_STOP_RACE = re.compile(
    r"Traceback \(most recent call last\):\n(?:[ \t].*\n)*?[ \t]+listener_name = listener\.getsockname\(\)\n"
    r"(?:[ \t].*\n)*OSError: \[Errno 9\] Bad file descriptor\n"
)


def assert_clean_log(server: LiveServer) -> None:
    """Fail if a process logged an alarm (support.alarms), gunicorn's stop race excepted."""
    text = GUNICORN_STOP_RACE.sub("", server.log())
    found = alarm_line_numbers(text)
    assert not found, f"the {server.label} server's output shows errors:\n{alarm_report(text, found)}"


def stop_like_systemd(server: LiveServer) -> tuple[int, float]:
    """`systemctl stop` with KillMode=mixed: SIGTERM to gunicorn's master alone, which
    stops its worker; its exit code and how long the stop took (seconds). Past the unit's
    TimeoutStopSec, where systemd would SIGKILL, subprocess.TimeoutExpired."""
    assert server.process is not None, f"{server.label} is not running"
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(timeout=stop_timeout())
    took = time.monotonic() - started
    server.stop()  # what the harness holds for it (connections, the process group)
    return code, took


class UnitServer(LiveServer):
    """An app process started as messaging@PORT.service starts it (from this checkout)."""

    def command(self) -> list[str]:
        """messaging@.service's ExecStart with `%i` = this process's port."""
        return exec_start(UNITS / "messaging@.service", str(self.port))


def start_processes(launcher: Launcher, env: dict[str, str], count: int) -> list[LiveServer]:
    """`count` app processes (stopped with the launcher's others), their boots overlapping."""
    servers: list[LiveServer] = []
    for n in range(1, count + 1):
        label = f"process-{n}"
        servers.append(UnitServer(env, launcher.workdir / f"{label}.log", label=label))
    launcher.servers.extend(servers)
    launcher.start_many(servers)
    return servers


def deployment_settings(redis_url: str, instance: Path) -> dict[str, str | None]:
    """The server settings: deploy/messaging.env.example, with this test's database,
    Redis and instance folder, a JWT_SECRET, and cheap password hashing (the suite
    registers many users). The harness's own defaults are dropped (None) where the
    example leaves the app's defaults in force."""
    settings: dict[str, str | None] = dict(read_env_file(ENV_EXAMPLE))
    assert settings.pop("JWT_SECRET") == "", "the example must not ship a signing key"
    assert settings.pop("VAPID_PRIVATE_KEY") == "", "the example must not ship a VAPID key"
    settings.pop("DATABASE_URL")  # the test's own, given to the launcher
    harness_defaults = (
        "REGISTER_RATE_LIMIT",
        "SEARCH_RATE_LIMIT",
        "JWT_COOKIE_SECURE",
        "PUSH_ALLOW_LOCAL_ENDPOINTS",
    )
    settings |= {name: None for name in harness_defaults if name not in settings}
    return settings | {
        "JWT_SECRET": f"deploy-test-{uuid.uuid4().hex}-{uuid.uuid4().hex}",
        "VAPID_PRIVATE_KEY": TEST_VAPID_PRIVATE_KEY,
        "SOCKETIO_MESSAGE_QUEUE": redis_url,
        "SOCKETIO_CHANNEL": f"deploy-{uuid.uuid4().hex}",  # pub/sub channels span Redis DBs
        "RATELIMIT_STORAGE_URI": redis_url,
        "INSTANCE_PATH": str(instance),
    }


def migrate_like_the_unit(env: dict[str, str]) -> None:
    """messaging-migrate.service's ExecStart, from the repository."""
    command = exec_start(UNITS / "messaging-migrate.service")
    result = subprocess.run(command, cwd=TOP_LEVEL, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CommandFailed(f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}")
