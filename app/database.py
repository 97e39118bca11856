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


class TransactionLeftOpen(RuntimeError):
    """A unit of work began while the session still held a transaction: a bug in the
    caller, which must end what it opened (nothing commits it on its behalf)."""


def _refuse_open_transaction(unit: str) -> None:
    if db.session().in_transaction():
        raise TransactionLeftOpen(
            f"{unit} began while the session held a transaction; end the reads before it "
            "(read_transaction) or do them inside it"
        )


@contextmanager
def write_transaction() -> Iterator[None]:
    """The one transaction of a service function that writes: begun here, committed
    when the block ends, rolled back when it raises.

    On SQLite it begins with BEGIN IMMEDIATE, taking the write lock up front, which
    serialises writers the way row locks do on PostgreSQL. It refuses to begin while
    the session holds a transaction (TransactionLeftOpen): nothing commits work that
    a caller left open.
    """
    _refuse_open_transaction("write_transaction")
    session = db.session()
    with session.begin():
        if session.get_bind().dialect.name == "sqlite":
            session.connection(execution_options={_IMMEDIATE: True})
        yield


@contextmanager
def read_transaction() -> Iterator[None]:
    """Reads as a unit: inside a transaction already open they join it; otherwise
    they run in one that ends with the block, so the connection goes back to the
    pool before the caller goes on (a later write or single statement may follow).

    Objects read stay usable afterwards (the session does not expire on commit).
    Writing in a read transaction of its own is a bug and raises.
    """
    session = db.session()
    if session.in_transaction():
        yield
        return
    with session.begin():
        yield
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("read_transaction holds changes; use write_transaction")


@contextmanager
def single_statement() -> Iterator[sa.Connection]:
    """A connection for one statement that is a transaction of its own.

    For a read, or a statement that writes all or nothing. On PostgreSQL it runs with
    the driver in autocommit: no BEGIN and no COMMIT round trip. The driver's flag is
    set here, not with SQLAlchemy's AUTOCOMMIT isolation option, whose reset at
    check-in raises an unwrapped driver error when the server has gone (where this
    fails like any other query). On SQLite the statement runs in a short transaction
    of its own. Either way the connection goes back to the pool at the end. It
    refuses to start while the session holds a transaction (TransactionLeftOpen): a
    request would then hold two pooled connections at once.
    """
    _refuse_open_transaction("single_statement")
    if db.engine.dialect.name != "postgresql":
        with db.engine.begin() as connection:
            yield connection
        return
    with db.engine.connect() as connection:
        driver_connection = connection.connection.dbapi_connection
        driver_connection.autocommit = True
        try:
            yield connection
        finally:
            if not driver_connection.closed:
                driver_connection.autocommit = False


@contextmanager
def read_connection() -> Iterator[sa.Connection]:
    """A connection for a read: the session's, in its transaction, when it holds one;
    otherwise a single statement's. Either way one connection per request."""
    if db.session().in_transaction():
        yield db.session.connection()
        return
    with single_statement() as connection:
        yield connection
