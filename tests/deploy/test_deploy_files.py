"""deploy/'s files on their own (no server): the systemd units pass `systemd-analyze`, the
environment file lists every setting and starts a production config, and the nginx
renderer fills its template exactly. test_nginx_tls.py runs them together."""

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import gunicorn.config
import pytest
from deploy_harness import (
    ENV_EXAMPLE,
    INSTALL_ROOT,
    RENDER,
    UNITS,
    exec_start,
    read_env_file,
    stop_timeout,
)
from support.processes import TOP_LEVEL
from support.settings import TEST_VAPID_PRIVATE_KEY

import config
from app.push.setup import finish_pending_pushes
from app.web import VENDOR_FILES
from app.web.security import CONTENT_SECURITY_POLICY

KIB = 1024
MIB = 1024 * KIB
MOST_EXPOSURE = 2.0  # systemd-analyze security: 0 is locked down, 10 is none of it ("OK" below 5)


def systemd_analyze() -> str:
    """systemd-analyze's path; skip where systemd is not installed (it cannot run there)."""
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (Debian: the systemd package)")
    return found


@pytest.fixture
def units_here(tmp_path: Path) -> Path:
    """The units as they would be installed, with this checkout as the install root (the
    checks need ExecStart's programs to exist) and the template instantiated for port 8001."""
    for unit in UNITS.iterdir():
        text = unit.read_text().replace(INSTALL_ROOT, str(TOP_LEVEL))
        (tmp_path / unit.name).write_text(text)
    shutil.copy(tmp_path / "messaging@.service", tmp_path / "messaging@8001.service")
    return tmp_path


def test_the_systemd_units_pass_systemd_analyze_verify_without_a_warning(units_here: Path) -> None:
    names = [
        "messaging@8001.service",
        "messaging-migrate.service",
        "messaging.target",
        "messaging-backup.service",
        "messaging-backup.timer",
        "messaging-clean.service",
        "messaging-clean.timer",
    ]
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", *names],
        cwd=units_here,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys and bad values are only warnings


@pytest.mark.parametrize(
    "unit",
    [
        "messaging@8001.service",
        "messaging-migrate.service",
        "messaging-backup.service",
        "messaging-clean.service",
    ],
)
def test_the_app_units_are_sandboxed(units_here: Path, unit: str) -> None:
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--no-pager", str(units_here / unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match is not None, result.stdout + result.stderr
    assert float(match.group(1)) <= MOST_EXPOSURE, result.stdout


def default_of(name: str) -> Any:
    """A setting's default, as config.py declares it."""
    return config.Settings.model_fields[name].default


class RecordingPushes:
    """A push dispatcher that records how long a graceful stop waits for it."""

    pending = 0

    def __init__(self) -> None:
        self.waits: list[float] = []

    def wait_idle(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return True


def push_wait_at_stop() -> float:
    """How long gunicorn.conf.py's worker_exit (finish_pending_pushes) waits for the pushes
    in flight, with PUSH_TIMEOUT_SECONDS at its default."""
    pushes = RecordingPushes()
    app = SimpleNamespace(
        extensions={"push": pushes}, config={"PUSH_TIMEOUT_SECONDS": default_of("PUSH_TIMEOUT_SECONDS")}
    )
    finish_pending_pushes(app)  # type: ignore[arg-type]
    assert len(pushes.waits) == 1
    return pushes.waits[0]


def test_the_app_unit_runs_one_worker_per_port_and_stops_gracefully() -> None:
    unit = (UNITS / "messaging@.service").read_text()
    command = exec_start(UNITS / "messaging@.service", "8001")
    assert command[1:] == [
        *("-k", "eventlet", "-w", "1", "-b", "127.0.0.1:8001"),
        *("--keep-alive", "2", "--graceful-timeout", "25", "--access-logfile", "-", "wsgi:app"),
    ]
    graceful = float(command[command.index("--graceful-timeout") + 1])
    # The master kills its worker `graceful` seconds after passing it SIGTERM. In that
    # time the worker notices the signal (its loop sleeps 1 s), finishes its requests
    # (the longest wait of one: DB_POOL_TIMEOUT for a connection), then waits for the
    # pushes it started (worker_exit).
    notice, drain, pushes = 1.0, float(default_of("DB_POOL_TIMEOUT")), push_wait_at_stop()
    assert pushes >= default_of("PUSH_TIMEOUT_SECONDS") + 1
    assert graceful >= notice + drain + pushes + 2, f"the master would kill pushes in flight ({graceful} s)"
    # A stopping old worker is silent (no heartbeat) until it exits: at a reload the
    # master kills one silent for longer than --timeout, which the unit leaves at its default.
    assert "--timeout" not in command and "-t" not in command
    assert graceful < gunicorn.config.Timeout.default, "a reload would kill the stopping worker"
    assert stop_timeout() > graceful + 5, "systemd would kill a graceful stop"
    for line in ("KillSignal=SIGTERM", "KillMode=mixed", "Restart=on-failure", "NoNewPrivileges=yes"):
        assert f"\n{line}\n" in unit, line
    assert "Requires=messaging-migrate.service" in unit and "messaging-migrate.service\n" in unit
    migrate = exec_start(UNITS / "messaging-migrate.service")
    assert migrate[1:] == ["--app", "wsgi", "db", "upgrade"]


def test_the_environment_file_names_every_setting_and_sets_what_production_needs() -> None:
    text = ENV_EXAMPLE.read_text()
    mentioned = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    missing = set(config.setting_names()) - mentioned
    assert not missing, f"deploy/messaging.env.example does not mention {sorted(missing)}"
    values = read_env_file(ENV_EXAMPLE)
    unknown = set(values) - set(config.setting_names())
    assert not unknown, f"set but not settings of the app: {sorted(unknown)}"
    assert values["APP_ENV"] == "production"
    assert values["TRUSTED_PROXIES"] == "1"  # nginx, and only nginx
    assert values["JWT_COOKIE_SECURE"] == "true"
    assert values["JWT_SECRET"] == "", "the example must not ship a usable signing key"
    assert values["VAPID_PRIVATE_KEY"] == "", "the example must not ship a VAPID key"
    for name in ("DATABASE_URL", "SOCKETIO_MESSAGE_QUEUE", "RATELIMIT_STORAGE_URI", "INSTANCE_PATH"):
        assert values[name], name
    # With a secret filled in, the production config takes it (types, limits, the checks).
    settings = {name: value for name, value in values.items() if name not in config.SERVER_SETTINGS}
    secrets = {"JWT_SECRET": "x7Kq9ZpLr2Vw4Ny8Bt6Hc3Jm5Fd1Gs0Ae", "VAPID_PRIVATE_KEY": TEST_VAPID_PRIVATE_KEY}
    chosen = config.read_settings(**(settings | secrets))
    assert chosen.APP_ENV == "production"
    final = config.ProductionConfig.load(settings | secrets)
    config.ProductionConfig.check(final)
    assert final["JWT_COOKIE_SECURE"] is True and final["SESSION_COOKIE_SECURE"] is True


def load_renderer() -> ModuleType:
    """deploy/nginx/render.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("render_nginx", RENDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rendered(*argv: str) -> str:
    """The site file render.py prints for a command line (plus a server name)."""
    render = load_renderer()
    arguments = render.parse_arguments(["--server-name", "chat.example.com", *argv])
    return render.render(render.TEMPLATE.read_text(), render.values_from(arguments))


def test_the_renderer_fills_every_placeholder_and_repeats_list_lines() -> None:
    render = load_renderer()
    site = rendered("--app", "8001", "--app", "10.0.0.2:8002")
    assert "{{" not in site and not render.PLACEHOLDER.search(site)
    assert "    server 127.0.0.1:8001 max_fails=1 fail_timeout=2s;\n" in site
    assert "    server 10.0.0.2:8002 max_fails=1 fail_timeout=2s;\n" in site
    assert site.count("listen 443 ssl http2") == 2 and site.count("listen [::]:443 ssl http2") == 2
    assert "return 301 https://chat.example.com$request_uri;" in site
    assert "ssl_certificate /etc/letsencrypt/live/chat.example.com/fullchain.pem;" in site
    with pytest.raises(render.RenderError, match="no value for SERVER_NAME"):
        render.render("server_name {{ SERVER_NAME }};\n", {})
    with pytest.raises(render.RenderError, match="does not use EXTRA"):
        render.render("x\n", {"EXTRA": "1"})
    with pytest.raises(SystemExit):
        render.parse_arguments(["--server-name", "x", "--app", "not a port"])
    for bad in ("0", "-5", "25m", "1e6"):
        with pytest.raises(SystemExit):
            render.parse_arguments(["--server-name", "x", "--max-attachment-bytes", bad])


def body_limit(site: str) -> int:
    """The site's client_max_body_size in bytes (nginx's size syntax: bytes, k or m)."""
    found = re.findall(r"^\s*client_max_body_size (\d+)([kKmM]?);", site, re.MULTILINE)
    assert len(found) == 1, found
    number, unit = found[0]
    return int(number) * {"": 1, "k": KIB, "m": MIB}[unit.lower()]


@pytest.mark.parametrize(
    "most",
    [None, 10_000_000, 100 * MIB, 5 * MIB + 512],
    ids=["default", "10 MB", "100 MiB", "odd size"],
)
def test_nginx_lets_an_attachment_and_its_envelope_through_and_not_much_more(most: int | None) -> None:
    assert default_of("MAX_ATTACHMENT_BYTES") == load_renderer().DEFAULT_MAX_ATTACHMENT_BYTES
    site = rendered() if most is None else rendered("--max-attachment-bytes", str(most))
    if most is None:
        most = default_of("MAX_ATTACHMENT_BYTES")
        assert "client_max_body_size 26m;" in site  # README, "Deploy"
    allowed = body_limit(site)
    assert most + 64 * KIB <= allowed <= most + 2 * MIB, (most, allowed)


def test_nginx_serves_the_vendor_files_and_the_service_worker_as_the_app_does() -> None:
    site = rendered("--static-dir", "/srv/app/static/", "--node-modules", "/srv/node_modules")
    for filename, folder in VENDOR_FILES.items():  # every file the app serves under /vendor/
        block = location_block(site, f"= /vendor/{filename}")
        assert f"alias /srv/node_modules/{folder}/{filename};" in block
        assert 'add_header Cache-Control "public, max-age=3600" always;' in block  # app/web: max_age=3600
    worker = location_block(site, "= /sw.js")
    assert "alias /srv/app/static/js/sw.js;" in worker
    assert 'add_header Cache-Control "no-cache" always;' in worker
    for block in [worker, *(location_block(site, f"= /vendor/{name}") for name in VENDOR_FILES)]:
        assert f'add_header Content-Security-Policy "{CONTENT_SECURITY_POLICY}" always;' in block
        assert "default_type text/javascript;" in block and "types { }" in block
        # add_header in a location drops the server's: HSTS is repeated.
        assert 'add_header Strict-Transport-Security "max-age=63072000" always;' in block
    assert "/opt/messaging/node_modules/socket.io-client/dist/" in rendered()  # the README's install root


def location_block(site: str, match: str) -> str:
    """The body of the site's `location <match> { ... }` (no nested blocks but `types { }`)."""
    found = re.findall(
        r"^\s*location " + re.escape(match) + r" \{\n(.*?)^\s*\}\n", site, re.MULTILINE | re.DOTALL
    )
    assert len(found) == 1, f"{len(found)} locations {match}"
    return found[0]
