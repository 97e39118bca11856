"""Transactions you can see: who begins and ends each one, and one connection per request."""

import pytest
import sqlalchemy as sa
from support.connections import SecondConnection

from app.database import TransactionLeftOpen, read_transaction, single_statement, write_transaction
from app.extensions import db
from app.models import Message, User


def test_a_request_holding_two_pooled_connections_fails(app):
    with app.test_request_context():
        db.session.execute(sa.select(1))  # the session holds a connection
        with pytest.raises(SecondConnection), db.engine.connect():
            pass


def test_one_connection_after_another_is_fine(app):
    with app.test_request_context():
        with single_statement() as connection:
            connection.execute(sa.select(1))
        with single_statement() as connection:
            connection.execute(sa.select(1))


def test_a_write_never_commits_what_a_caller_left_open(app, alice):
    with app.test_request_context():
        db.session.add(User(username="left_open", display_name="x", password_hash="x"))
        db.session.flush()
        with pytest.raises(TransactionLeftOpen), write_transaction():
            pass
        with pytest.raises(TransactionLeftOpen), single_statement():
            pass
        db.session.rollback()
        assert db.session.scalar(sa.select(User).where(User.username == "left_open")) is None


def test_a_write_transaction_rolls_back_when_its_block_raises(app, alice):
    with app.test_request_context():
        with pytest.raises(ZeroDivisionError), write_transaction():
            db.session.add(User(username="half_done", display_name="x", password_hash="x"))
            db.session.flush()
            raise ZeroDivisionError
        assert db.session.scalar(sa.select(User).where(User.username == "half_done")) is None


def test_reads_end_with_their_block_unless_they_joined_one(app, alice):
    with app.test_request_context():
        with read_transaction():
            db.session.scalar(sa.select(User))
        assert not db.session().in_transaction()
        with write_transaction():
            with read_transaction():
                db.session.scalar(sa.select(User))
            assert db.session().in_transaction()  # joined: the write transaction ends it


def test_a_read_transaction_that_writes_is_refused(app, alice):
    with app.test_request_context():
        with pytest.raises(RuntimeError, match="use write_transaction"), read_transaction():
            db.session.add(User(username="sneaky", display_name="x", password_hash="x"))
        db.session.rollback()


def count_statements(app, call):
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        result = call()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return [s for s in statements if s.strip().upper() not in {"BEGIN", "BEGIN IMMEDIATE", "COMMIT"}], result


def test_a_page_costs_the_same_statements_whatever_its_size(app, api, alice, bob, chat):
    """Delivering a page once reloaded every message after the commit (one SELECT each)."""
    for n in range(20):
        assert api.send(alice, chat, f"m{n}").status_code == 201
    api.messages(alice, chat, limit=1)  # the conversation's participants are remembered from here on
    small, _ = count_statements(app, lambda: api.messages(bob, chat, limit=2))
    large, response = count_statements(app, lambda: api.messages(bob, chat, limit=20))
    assert len(large) == len(small), large
    page = response.json["messages"]
    assert len(page) == 20
    assert all(m["deliveredAt"] for m in page)  # the page shows the receipts it wrote
    assert db.session.scalar(sa.select(sa.func.count()).where(Message.delivered_at.is_(None))) == 0
