"""The project's own deployment, run here (helpers in deploy_harness.py).

- ``certificates``: a throwaway CA and a certificate for `localhost`, made with openssl;
- ``deployment``: deploy/nginx/messaging.conf rendered by deploy/nginx/render.py for two
  loopback ports (static files and the socket.io client from this checkout), nginx run as
  the current user from a prefix in tmp; behind it two gunicorn processes started with
  messaging@.service's ExecStart and the settings of deploy/messaging.env.example, on one
  PostgreSQL database (migrated with messaging-migrate.service's ExecStart) and a Redis DB
  of their own.

Without nginx (or openssl, PostgreSQL, Redis) the tests skip locally and fail in CI
(CI=true); scripts/provision-test-deps installs nginx.
"""

import shutil
from collections.abc import Iterator

import pytest
from deploy_harness import (
    NODE_MODULES,
    SERVER_NAME,
    STATIC_DIR,
    Certificates,
    Deployment,
    Nginx,
    assert_clean_log,
    deployment_settings,
    make_certificates,
    migrate_like_the_unit,
    nginx_binary,
    start_processes,
)
from support.databases import RedisDatabase
from support.processes import free_port
from support.pytest_live import (  # noqa: F401 (the hook and the fixture)
    call_failed,
    fail_or_skip,
    pytest_runtest_makereport,
    require_redis,
    sockets,
)
from support.servers import Launcher


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """The test CA and the certificate of `localhost`."""
    if shutil.which("openssl") is None:
        fail_or_skip("openssl is not installed (apt-get install -y openssl)")
    return make_certificates(tmp_path_factory.mktemp("tls"), SERVER_NAME)


@pytest.fixture(scope="session")
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> Iterator[Deployment]:
    """nginx (deploy/nginx/messaging.conf) in front of two processes (deploy/systemd) on Redis."""
    binary = nginx_binary()
    require_redis()
    database_url = request.getfixturevalue("pg_databases").create("deploy")
    claimed = RedisDatabase()
    workdir = tmp_path_factory.mktemp("deploy")
    launcher = Launcher(workdir)
    nginx: Nginx | None = None
    try:
        settings = deployment_settings(claimed.url, workdir / "instance")
        env = launcher.environment(database_url, migrated=True, **settings)
        env["PYTHONUNBUFFERED"] = "1"  # the unit's Environment=
        migrate_like_the_unit(env)
        servers = start_processes(launcher, env, 2)
        http_port, https_port = free_port(), free_port()
        acme_root = workdir / "acme"
        (acme_root / ".well-known" / "acme-challenge").mkdir(parents=True)
        render_args = [
            *("--server-name", SERVER_NAME, "--static-dir", str(STATIC_DIR), "--acme-root", str(acme_root)),
            *("--node-modules", str(NODE_MODULES)),
            *("--cert", str(certificates.cert), "--key", str(certificates.key)),
            *("--http-listen", f"127.0.0.1:{http_port}", "--https-listen", f"127.0.0.1:{https_port}"),
        ]
        for server in servers:
            render_args += ["--app", str(server.port)]
        nginx = Nginx(binary, workdir / "nginx", render_args)
        nginx.start(https_port)
        yield Deployment(nginx, servers, certificates, http_port, https_port, acme_root)
        for server in servers:
            server.assert_alive()
            assert_clean_log(server)
    finally:
        if nginx is not None:
            nginx.stop()
        launcher.stop_all()
        claimed.release()


@pytest.fixture
def site(request: pytest.FixtureRequest, deployment: Deployment) -> Iterator[Deployment]:
    """The deployment for one test; on failure, nginx's error log and the processes' output."""
    since = {server.label: server.log_size() for server in deployment.servers}
    errors_since = len(deployment.nginx.errors())
    yield deployment
    if call_failed(request):
        print(f"--- nginx error log ---\n{deployment.nginx.errors()[errors_since:][-10000:]}")
        for server in deployment.servers:
            print(f"--- {server.label} ---\n{server.log(since[server.label])[-10000:]}")
