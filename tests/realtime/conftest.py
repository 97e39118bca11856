"""Real server processes and recording Socket.IO clients for the realtime tests (tests/support).

- ``server``: ``python wsgi.py`` (kind "eventlet", what ``make run`` serves with) on a
  fresh, migrated SQLite file, or ``gunicorn -k eventlet -w 1`` (kind "gunicorn", access
  log on) on a fresh, migrated PostgreSQL database;
- ``server_pair``: two such gunicorn processes on one PostgreSQL database, sharing a
  Redis DB of their own for the Socket.IO queue, the rate limits and the socket registry.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
from support.databases import RedisDatabase
from support.pytest_live import require_redis, sockets  # noqa: F401 (registers the fixture)
from support.servers import KINDS, Launcher, LiveServer
from support.settings import queue_settings
from support.tokens import TokenForge


@pytest.fixture(scope="session", params=KINDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server process: `python wsgi.py` on SQLite, or `gunicorn -k eventlet -w 1` on PostgreSQL."""
    kind = request.param
    workdir = tmp_path_factory.mktemp(f"realtime-{kind}")
    launcher = Launcher(workdir)
    if kind == "eventlet":
        database_url = f"sqlite:///{workdir / 'messaging.db'}"
    else:
        database_url = request.getfixturevalue("pg_databases").create("realtime")
    try:
        live = launcher.start(launcher.environment(database_url), kind, kind=kind)
        yield live
        live.assert_alive()
        live.assert_clean_log()
    finally:
        launcher.stop_all()


# Low enough for a test to reach it through both processes; the other pair tests stay under it.
PAIR_SEND_RATE_LIMIT = "6 per minute"


@dataclass
class ServerPair:
    """Two gunicorn processes on one database and one Redis DB."""

    first: LiveServer
    second: LiveServer
    redis_db: int
    redis: redis.Redis
    send_rate_limit: int = int(PAIR_SEND_RATE_LIMIT.split()[0])


@pytest.fixture(scope="module")
def server_pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerPair]:
    """Two `gunicorn -k eventlet -w 1` processes sharing PostgreSQL and a Redis queue of their own."""
    require_redis()
    database_url = request.getfixturevalue("pg_databases").create("realtime_pair")
    claimed = RedisDatabase()
    launcher = Launcher(tmp_path_factory.mktemp("realtime-pair"))
    try:
        env = launcher.environment(
            database_url, **queue_settings(claimed.url), SEND_RATE_LIMIT=PAIR_SEND_RATE_LIMIT
        )
        pair = [launcher.server(env, f"process-{n}") for n in (1, 2)]
        launcher.start_many(pair)
        yield ServerPair(*pair, claimed.number, claimed.conn)
        for live in pair:
            live.assert_alive()
            live.assert_clean_log()
    finally:
        launcher.stop_all()
        claimed.release()


@pytest.fixture
def forge() -> TokenForge:
    """Makes tokens: signed with any key, expired, of another type, or unsigned (`alg: none`)."""
    return TokenForge()


@pytest.fixture
def record_figure(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """Record a measured figure with `record_property`.

    (With --junitxml in the default xunit2 family, record_property only warns, which this
    suite turns into an error; the figures then go to `record_testsuite_property` instead.)
    """
    junit_xml = getattr(request.config.option, "xmlpath", None)
    if junit_xml and request.config.getini("junit_family") == "xunit2":
        return request.getfixturevalue("record_testsuite_property")
    return request.getfixturevalue("record_property")
