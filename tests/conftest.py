"""Fixtures: an app on each database (SQLite and PostgreSQL), clients, users, the clock."""

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient
from support.api_client import Account, Api
from support.connections import forbid_second_connection
from support.databases import POSTGRES_ADMIN_URL, PostgresDatabases

from app import create_app
from app.extensions import db
from config import TestingConfig

PG_ADMIN_URL = POSTGRES_ADMIN_URL
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def postgres_available() -> bool:
    """Whether the test PostgreSQL server answers."""
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


def require_postgres() -> None:
    """Skip without PostgreSQL locally; in CI a missing PostgreSQL fails the run."""
    if postgres_available():
        return
    if IN_CI:
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 and CI=true")
    pytest.skip("PostgreSQL is not reachable")


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    """One Playwright for the whole session, shared by every browser fixture: a second
    sync_playwright() in the same process fails ("Sync API inside the asyncio loop")."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def pg_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresDatabases]:
    """Factory of throw-away PostgreSQL databases for this test session."""
    require_postgres()
    databases = PostgresDatabases(tmp_path_factory.mktemp("pg"), prefix="msgtest")
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Lazily created per-session database URLs, one per backend."""
    return {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"}


BACKENDS = ["sqlite", "postgresql"]


def _truncate_all() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


_schemas_created: set[str] = set()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database under test."""
    return request.param


@pytest.fixture
def database_url(backend: str, database_urls: dict[str, Any], request: pytest.FixtureRequest) -> str:
    """This session's database for the backend (created once, emptied between tests)."""
    if backend == "postgresql" and "postgresql" not in database_urls:
        databases = request.getfixturevalue("pg_databases")
        database_urls["postgresql"] = databases.create("api")
    return database_urls[backend]


class FreshSessionClient(FlaskClient):
    """A test client whose requests start with no session transaction, as in a server.

    Tests read the database through `db.session` in the app context that the test
    client's requests share; ending those reads first keeps them out of the request.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        if has_app_context():
            db.session.remove()
        return super().open(*args, **kwargs)


@pytest.fixture
def app(database_url: str, tmp_path: Any) -> Iterator[Any]:
    """The app on an empty database (attachments stored under the test's own directory)."""
    application = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        RATELIMIT_ENABLED=True,
        UPLOAD_DIR=str(tmp_path / "uploads"),
    )
    application.test_client_class = FreshSessionClient
    forbid_second_connection(application)
    with application.app_context():
        if database_url not in _schemas_created:
            db.create_all()
            _schemas_created.add(database_url)
        _truncate_all()
        application.extensions["auth_throttle"].reset()
        yield application
        db.session.remove()
        _truncate_all()
        db.engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    """An HTTP test client."""
    return app.test_client()


@pytest.fixture
def api(client: Any) -> Api:
    """REST shortcuts."""
    return Api(client)


@pytest.fixture
def alice(api: Api) -> Account:
    return api.account("alice")


@pytest.fixture
def bob(api: Api) -> Account:
    return api.account("bob")


@pytest.fixture
def carol(api: Api) -> Account:
    return api.account("carol")


@pytest.fixture
def chat(api: Api, alice: Account, bob: Account) -> str:
    """The id of alice and bob's conversation."""
    return api.conversation(alice, bob)


@pytest.fixture
def clock(time_machine: Any) -> Any:
    """The test clock, parked at noon UTC; move it with .shift / .move_to.

    Request it before any account fixture, so tokens are issued on the test clock.
    """
    time_machine.move_to(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), tick=False)
    return time_machine
