"""Engine set-up per database and the write-transaction helper services use."""

from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db

_IMMEDIATE = "sqlite_begin_immediate"


def engine_options(uri: str, pool_size: int, max_overflow: int, pool_timeout: int) -> dict[str, Any]:
    """Pool settings for the URI: a pool sized for green threads, pre-ping on PostgreSQL."""
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {
        "pool_pre_ping": True,
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": pool_timeout,
        "pool_recycle": 1800,
    }


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
