"""deploy/'s files on their own (no server): the systemd units pass `systemd-analyze`, the
environment file lists every setting and starts a production config, and the nginx
renderer fills its template exactly. test_nginx_tls.py runs them together."""

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from deploy_harness import ENV_EXAMPLE, INSTALL_ROOT, RENDER, UNITS, exec_start, read_env_file
from support.processes import TOP_LEVEL
from support.settings import TEST_VAPID_PRIVATE_KEY

import config

MIB = 1024 * 1024
DEFAULT_MAX_ATTACHMENT_BYTES = 25 * MIB  # API.md, until config.py declares MAX_ATTACHMENT_BYTES
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
    names = ["messaging@8001.service", "messaging-migrate.service", "messaging.target"]
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", *names],
        cwd=units_here,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys and bad values are only warnings


@pytest.mark.parametrize("unit", ["messaging@8001.service", "messaging-migrate.service"])
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


def test_the_app_unit_runs_one_worker_per_port_and_stops_gracefully() -> None:
    unit = (UNITS / "messaging@.service").read_text()
    command = exec_start(UNITS / "messaging@.service", "8001")
    assert command[1:] == [
        *("-k", "eventlet", "-w", "1", "-b", "127.0.0.1:8001"),
        *("--keep-alive", "2", "--graceful-timeout", "10", "--access-logfile", "-", "wsgi:app"),
    ]
    stop_timeout = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert stop_timeout > 10, "systemd would kill a graceful stop"
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


def test_the_renderer_fills_every_placeholder_and_repeats_list_lines() -> None:
    render = load_renderer()
    arguments = render.parse_arguments(
        ["--server-name", "chat.example.com", "--app", "8001", "--app", "10.0.0.2:8002"]
    )
    site = render.render(render.TEMPLATE.read_text(), render.values_from(arguments))
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


def test_nginx_lets_an_attachment_and_its_envelope_through_and_not_much_more() -> None:
    field = config.Settings.model_fields.get("MAX_ATTACHMENT_BYTES")
    most = field.default if field is not None else DEFAULT_MAX_ATTACHMENT_BYTES
    template = RENDER.with_name("messaging.conf").read_text()
    size = re.search(r"^\s*client_max_body_size (\d+)m;", template, re.MULTILINE)
    assert size is not None
    allowed = int(size.group(1)) * MIB
    assert most + 64 * 1024 <= allowed <= most + 2 * MIB, (most, allowed)
