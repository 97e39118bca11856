"""The pool pings a PostgreSQL connection that sat idle, and only such a connection."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from support.api_client import Api

from app import create_app
from app.extensions import db
from config import TestingConfig


@pytest.fixture
def pool_database(pg_databases: Any) -> Iterator[str]:
    url = pg_databases.create("pool")
    yield url


def make_app(url: str, idle_seconds: int) -> Any:
    application = create_app(
        TestingConfig, SQLALCHEMY_DATABASE_URI=url, DB_PING_IDLE_SECONDS=idle_seconds, DB_POOL_SIZE=2
    )
    with application.app_context():
        db.create_all()
    return application


def kill_connections(pg_databases: Any, url: str) -> int:
    """Terminate the app's server sessions, as a PostgreSQL restart would."""
    name = url.rsplit("/", 1)[1]
    with pg_databases.engine.connect() as conn:
        return len(
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).all()
        )


def test_an_idle_connection_that_died_is_replaced_before_use(pg_databases, pool_database):
    application = make_app(pool_database, idle_seconds=0)
    api = Api(application.test_client())
    alice = api.account("alice")
    assert kill_connections(pg_databases, pool_database) >= 1
    response = api.quota(alice)
    assert response.status_code == 200, response.json
    with application.app_context():
        db.engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(pg_databases, pool_database):
    application = make_app(pool_database, idle_seconds=3600)
    api = Api(application.test_client())
    alice = api.account("alice")
    pings: list[str] = []
    with application.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", lambda *args: pings.append(args[2]))
    assert api.quota(alice).status_code == 200
    assert pings and not any(statement.strip().upper() == "SELECT 1" for statement in pings)
    # A connection that died while in the pool fails that one request with 503 ...
    kill_connections(pg_databases, pool_database)
    failed = api.quota(alice)
    assert failed.status_code == 503, failed.json
    assert failed.json["error"]["code"] == "service_unavailable"
    # ... and SQLAlchemy renews the pool, so the next request works.
    time.sleep(0.01)
    assert api.quota(alice).status_code == 200
    with application.app_context():
        db.engine.dispose()
