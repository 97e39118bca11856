"""A real gunicorn server (2 eventlet workers) on a fresh, migrated PostgreSQL database (support.servers)."""

from collections.abc import Iterator
from typing import Any

import pytest
from support.pytest_live import call_failed, pytest_runtest_makereport  # noqa: F401 (registers the hook)
from support.servers import Launcher, LiveServer

WORKERS = 2
# The app's default pool is 20 connections per process with no overflow, so 2 workers may
# open 40 of PostgreSQL's default max_connections (100) during a 60-request burst; with
# other test sessions sharing that server some sends would then get "too many clients
# already" (answered 503). 10 per worker caps this server at 20 connections; the extra
# requests queue in the pool, so sends still contend on the same row locks.
DB_POOL_SIZE = "10"


@pytest.fixture(scope="module")
def live_server(pg_databases: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """gunicorn -k eventlet -w 2 on a fresh migrated PostgreSQL database; yields the running server.

    Every request opens a new connection, so the burst spreads over both workers.
    """
    launcher = Launcher(tmp_path_factory.mktemp("gunicorn"))
    env = launcher.environment(
        pg_databases.create("server"), RATELIMIT_ENABLED="false", DB_POOL_SIZE=DB_POOL_SIZE
    )
    try:
        server = launcher.start(env, "gunicorn", workers=WORKERS, keep_alive=False, request_timeout=30.0)
        yield server
        server.assert_alive()
    finally:
        launcher.stop_all()


@pytest.fixture(autouse=True)
def server_log_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """When a test using the live server fails, show what the server logged meanwhile."""
    if "live_server" not in request.fixturenames:
        yield
        return
    server: LiveServer = request.getfixturevalue("live_server")
    since = server.log_size()
    yield
    if call_failed(request):
        print(f"--- server log during {request.node.name} ---\n{server.log(since)[-20000:]}")
