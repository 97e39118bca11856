"""Engine set-up per database and the write-transaction helper services use."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db

_IMMEDIATE = "sqlite_begin_immediate"


def engine_options(uri: str, pool_size: int, max_overflow: int, pool_timeout: int) -> dict[str, Any]:
    """Pool settings for the URI: a pool sized for green threads on PostgreSQL.

    Connections are pinged before use only after they sat idle (see ping_idle_connections).
    """
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": pool_timeout,
        "pool_recycle": 1800,
    }


def ping_idle_connections(app: Flask, idle_seconds: float) -> None:
    """Ping a pooled connection before use when it sat idle for `idle_seconds` or more.

    SQLAlchemy's pool_pre_ping pings on every checkout: one more round trip for every
    request. A connection checked in a moment ago is as alive as a ping would show,
    so only idle ones are pinged (SQLAlchemy's documented custom pessimistic ping); a
    dead one is replaced before the request sees it. A connection that dies while
    busy fails that one request with 503, and SQLAlchemy then renews the whole pool.
    """
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        return

    @sa.event.listens_for(engine, "checkin")
    def _note_checkin(dbapi_connection: Any, connection_record: Any) -> None:
        connection_record.info["checked_in_at"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
        checked_in_at = connection_record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return  # new, or back in the pool a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise sa.exc.DisconnectionError(str(error)) from error


def configure_sqlite(app: Flask) -> None:
    """Let us issue BEGIN ourselves on SQLite, so write transactions can be IMMEDIATE."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not BEGIN on its own
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def statement_connection() -> Iterator[sa.Connection]:
    """A connection on which each statement is its own transaction, on PostgreSQL.

    For a single read, or a single statement that writes all or nothing: no BEGIN
    and no COMMIT round trip. The driver's autocommit flag is set for the duration
    (a client-side switch, as SQLAlchemy's own ping does; SQLAlchemy's AUTOCOMMIT
    isolation option would also work, but its reset on check-in raises an unwrapped
    driver error when the server has gone, where this fails like any other query).
    The connection goes back to the pool afterwards. Elsewhere (SQLite) it is the
    session's connection, in the session's transaction.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        yield db.session.connection()
        return
    with db.engine.connect() as connection:
        driver_connection = connection.connection.dbapi_connection
        driver_connection.autocommit = True
        try:
            yield connection
        finally:
            if not driver_connection.closed:
                driver_connection.autocommit = False


def begin_write() -> None:
    """Start the session's transaction as a writer.

    On SQLite the transaction takes the write lock up front (BEGIN IMMEDIATE), which
    serialises writers the way row locks do on PostgreSQL; any read-only transaction
    still open is ended first so that the write lock is taken before the next read.
    Elsewhere it does nothing: the service's row locks serialise writers, and the
    reads before them may share the transaction (no extra commit round trip).
    """
    session = db.session()
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={_IMMEDIATE: True})
