"""A guard for the in-process tests: a request that holds two pooled connections at once fails.

With no pool overflow, a request that holds one connection while it asks for a
second can starve the pool under load (each waits for the other's connection).
"""

from typing import Any

import sqlalchemy as sa
from flask import Flask, g, has_request_context

from app.extensions import db


class SecondConnection(AssertionError):
    """A request asked the pool for a connection while it held one."""


def forbid_second_connection(app: Flask) -> None:
    """Fail any request that checks out a pooled connection while it holds another."""
    with app.app_context():
        engine = db.engine

    @sa.event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if not has_request_context():
            return
        held = g.setdefault("pooled_connections", set())
        if held:
            raise SecondConnection("this request already holds a pooled connection")
        held.add(id(record))

    @sa.event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        if has_request_context():
            g.get("pooled_connections", set()).discard(id(record))
