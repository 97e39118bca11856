"""The hot queries use their indexes on a table of 100k messages (PostgreSQL only).

The SQL explained here is the SQL the app runs: each service function is called
inside an app context while an engine listener records every statement and its
parameters, and each recorded statement is then EXPLAINed with those parameters.
"""

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from support.logs import logging_config_kept

from app import create_app
from app.extensions import db
from app.services import conversations, expiry, messaging
from config import TestingConfig

pytestmark = pytest.mark.slow

USERS = 2000
CONVERSATIONS = 1000  # conversation c is between users 2c-1 and 2c
MESSAGES = 100_000
PAGE_INDEX = "uq_messages_conversation_seq"
EXPIRY_INDEX = "ix_messages_unexpired_expiry"
UNREAD_INDEX = "ix_messages_unread"
ATTACHMENT_INDEX = "ix_attachments_message_id"
# The services must filter with `= false` (not `IS false`), or PostgreSQL cannot match the
# partial indexes' predicates and scans the whole conversation instead.
INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}


def user_id(number: int) -> uuid.UUID:
    """The id the fill script gives user `number` (md5('u' || number)::uuid)."""
    return uuid.UUID(_md5(f"u{number}"))


def conversation_id(number: int) -> uuid.UUID:
    """The id the fill script gives conversation `number`."""
    return uuid.UUID(_md5(f"c{number}"))


def _md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()


# Set-based fill: a few seconds for 100k rows. Message g (1..100000) is in conversation
# 1 + g % 1000, alternately from either participant, one second apart; 1% (g % 97 = 0) expired
# but not yet marked, 9% expiring in the future, the rest without expiry; nearly all read.
FILL_SQL = [
    f"""INSERT INTO users (id, username, display_name, password_hash, created_at)
        SELECT md5('u' || g)::uuid, 'user' || g, 'User ' || g, 'not-a-hash', now()
        FROM generate_series(1, {USERS}) g""",
    f"""INSERT INTO conversations (id, pair_key, created_at, updated_at)
        SELECT md5('c' || g)::uuid,
               least(md5('u' || (2 * g - 1))::uuid::text, md5('u' || (2 * g))::uuid::text) || ':' ||
               greatest(md5('u' || (2 * g - 1))::uuid::text, md5('u' || (2 * g))::uuid::text),
               now() - interval '30 days', now()
        FROM generate_series(1, {CONVERSATIONS}) g""",
    f"""INSERT INTO conversation_participants (conversation_id, user_id, joined_at)
        SELECT md5('c' || g)::uuid, md5('u' || (2 * g - side))::uuid, now() - interval '30 days'
        FROM generate_series(1, {CONVERSATIONS}) g, (VALUES (0), (1)) AS sides(side)""",
    f"""INSERT INTO messages (id, conversation_id, seq, sender_id, content, expires_at, is_expired,
                              delivered_at, is_read, read_at, client_message_id, points_charged,
                              created_at, updated_at)
        SELECT gen_random_uuid(),
               md5('c' || (1 + g % {CONVERSATIONS}))::uuid,
               ceil(g / {CONVERSATIONS}.0)::int,
               md5('u' || (2 * (1 + g % {CONVERSATIONS}) - (g / {CONVERSATIONS}) % 2))::uuid,
               'message number ' || g,
               CASE WHEN g % 97 = 0 THEN now() - interval '1 hour'
                    WHEN g % 11 = 5 THEN now() + interval '1 day' END,
               false,
               CASE WHEN g <= {MESSAGES - 2000} THEN now() - interval '1 day' END,
               g <= {MESSAGES - 2000},
               CASE WHEN g <= {MESSAGES - 2000} THEN now() - interval '1 day' END,
               NULL, 0,
               now() - ({MESSAGES} - g) * interval '1 second',
               now() - ({MESSAGES} - g) * interval '1 second'
        FROM generate_series(1, {MESSAGES}) g""",
    # An attachment on every fifth message (the after_login hook marks those of expired ones).
    """INSERT INTO attachments (id, uploader_id, message_id, filename, content_type, size, width, height,
                                 storage_key, thumbnail_key, created_at, deleted_at)
        SELECT gen_random_uuid(), sender_id, id, 'f.txt', 'text/plain', 10, NULL, NULL, id::text, NULL,
               created_at, NULL
        FROM messages WHERE seq % 5 = 0""",
    "ANALYZE",
]


@dataclass(frozen=True)
class Captured:
    """One statement the app sent to PostgreSQL, with its driver-level parameters."""

    sql: str
    params: Any


@dataclass
class PlansDatabase:
    """The app bound to the filled database."""

    app: Any

    def capture(self, action: Callable[[], Any]) -> list[Captured]:
        """Run `action` in an app context and record every statement it executes."""
        recorded: list[Captured] = []

        def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            recorded.append(Captured(statement, parameters))

        with self.app.app_context():
            engine = db.engine
            sa.event.listen(engine, "before_cursor_execute", record)
            try:
                action()
            finally:
                sa.event.remove(engine, "before_cursor_execute", record)
                db.session.remove()
        return recorded

    def explain(self, statement: Captured) -> dict[str, Any]:
        """EXPLAIN (FORMAT JSON) of a recorded statement, in a transaction that is rolled back."""
        with self.app.app_context(), db.engine.connect() as conn:
            transaction = conn.begin()
            try:
                raw = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement.sql, statement.params)
                plan = raw.scalar_one()
            finally:
                transaction.rollback()
        if isinstance(plan, str):
            plan = json.loads(plan)
        return plan[0]["Plan"]


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan tree (init plans and sub plans included)."""
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def seq_scans_on_messages(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The nodes that read the whole messages table."""
    return [
        node
        for node in plan_nodes(plan)
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "messages"
    ]


def uses_index(plan: dict[str, Any], index: str) -> bool:
    """Whether an index scan of the plan reads `index`."""
    return any(
        node["Node Type"] in INDEX_SCANS and node.get("Index Name") == index for node in plan_nodes(plan)
    )


def touching_messages(statements: list[Captured]) -> list[Captured]:
    """The recorded statements that read or write the messages table."""
    found = [s for s in statements if "messages" in s.sql.replace("conversation_participants", "")]
    assert found, [s.sql for s in statements]
    return found


@pytest.fixture(scope="module")
def plans_db(pg_databases: Any) -> Iterator[PlansDatabase]:
    """A migrated PostgreSQL database holding 100k messages, analysed."""
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=pg_databases.create("plans"))
    with app.app_context():
        try:
            with logging_config_kept():
                flask_migrate.upgrade()
            with db.engine.begin() as conn:
                for sql in FILL_SQL:
                    conn.execute(sa.text(sql))
            with db.engine.connect() as conn:
                counts = conn.execute(
                    sa.text(
                        "SELECT count(*), count(*) FILTER (WHERE expires_at < now() AND NOT is_expired), "
                        "count(DISTINCT conversation_id) FROM messages"
                    )
                ).one()
            assert tuple(counts) == (MESSAGES, MESSAGES // 97, CONVERSATIONS)
        finally:
            db.engine.dispose()
    yield PlansDatabase(app)
    with app.app_context():
        db.engine.dispose()


def _explained(plans_db: PlansDatabase, statements: list[Captured]) -> list[tuple[Captured, dict[str, Any]]]:
    return [(statement, plans_db.explain(statement)) for statement in touching_messages(statements)]


def _assert_no_seq_scan(explained: list[tuple[Captured, dict[str, Any]]]) -> None:
    for statement, plan in explained:
        assert seq_scans_on_messages(plan) == [], f"{statement.sql}\n{json.dumps(plan, indent=1)}"


def _page_query(explained: list[tuple[Captured, dict[str, Any]]]) -> tuple[Captured, dict[str, Any]]:
    """The page SELECT itself (the one with ORDER BY ... LIMIT)."""
    pages = [(s, p) for s, p in explained if s.sql.lstrip().upper().startswith("SELECT") and "LIMIT" in s.sql]
    assert len(pages) == 1, [s.sql for s, _ in explained]
    return pages[0]


def test_newest_page_fetch_walks_the_conversation_seq_index(plans_db: PlansDatabase) -> None:
    """GET /api/messages (no cursor): an index scan on (conversation_id, seq), no seq scan."""
    viewer, chat = user_id(2 * 7 - 1), conversation_id(7)
    statements = plans_db.capture(lambda: messaging.fetch_messages(viewer, chat, limit=50))
    explained = _explained(plans_db, statements)
    _assert_no_seq_scan(explained)
    statement, plan = _page_query(explained)
    assert uses_index(plan, PAGE_INDEX), f"{statement.sql}\n{json.dumps(plan, indent=1)}"


def test_page_before_and_after_a_cursor_walks_the_conversation_seq_index(plans_db: PlansDatabase) -> None:
    """Scrolling up (before) and catching up (after) use the same index from the cursor on."""
    viewer, chat = user_id(2 * 11), conversation_id(11)
    with plans_db.app.app_context():
        middle = db.session.execute(
            sa.text("SELECT id FROM messages WHERE conversation_id = :c ORDER BY seq OFFSET 50 LIMIT 1"),
            {"c": chat},
        ).scalar_one()
        db.session.remove()
    for cursor in ({"before": middle}, {"after": middle}):
        statements = plans_db.capture(
            lambda cursor=cursor: messaging.fetch_messages(viewer, chat, limit=20, **cursor)
        )
        explained = _explained(plans_db, statements)
        _assert_no_seq_scan(explained)
        statement, plan = _page_query(explained)
        assert uses_index(plan, PAGE_INDEX), f"{cursor}: {statement.sql}\n{json.dumps(plan, indent=1)}"


def test_after_login_expiry_update_uses_the_partial_unexpired_expiry_index(plans_db: PlansDatabase) -> None:
    """The after_login UPDATE reads only the user's unexpired, expiring rows through the partial index."""
    user = user_id(2 * 23 - 1)
    with plans_db.app.app_context():
        due = db.session.execute(
            sa.text(
                "SELECT count(*) FROM messages WHERE conversation_id = :c "
                "AND NOT is_expired AND expires_at <= now()"
            ),
            {"c": conversation_id(23)},
        ).scalar_one()
        db.session.remove()
    assert due >= 1
    marked: list[int] = []
    statements = plans_db.capture(lambda: marked.append(expiry.mark_expired_for_user(user)))
    assert marked == [due]
    updates = [s for s in touching_messages(statements) if s.sql.lstrip().upper().startswith("UPDATE")]
    # One UPDATE of the messages, and one of their attachments (marked deleted in the same pass).
    tables = sorted(update.sql.split()[1] for update in updates)
    assert tables == ["attachments", "messages"], [s.sql for s in statements]
    for update in updates:
        plan = plans_db.explain(update)
        assert seq_scans_on_messages(plan) == [], f"{update.sql}\n{json.dumps(plan, indent=1)}"
        assert uses_index(plan, EXPIRY_INDEX), f"{update.sql}\n{json.dumps(plan, indent=1)}"
        if update.sql.split()[1] == "attachments":
            assert uses_index(plan, ATTACHMENT_INDEX), f"{update.sql}\n{json.dumps(plan, indent=1)}"


def test_conversation_list_counts_unread_through_the_partial_unread_index(plans_db: PlansDatabase) -> None:
    """GET /api/conversations: each unread count (the list's, and the archived chats'
    total) reads only unread rows (ix_messages_unread)."""
    viewer = user_id(2 * 31)
    statements = plans_db.capture(lambda: conversations.list_conversations(viewer))
    counting = [s for s in touching_messages(statements) if "count(" in s.sql.lower()]
    assert len(counting) == 2, [s.sql for s in statements]
    for statement in counting:
        plan = plans_db.explain(statement)
        assert seq_scans_on_messages(plan) == [], f"{statement.sql}\n{json.dumps(plan, indent=1)}"
        assert uses_index(plan, UNREAD_INDEX), f"{statement.sql}\n{json.dumps(plan, indent=1)}"


def test_mark_all_read_update_uses_the_partial_unread_index(plans_db: PlansDatabase) -> None:
    """POST /api/messages/read without ids: the UPDATE finds the unread rows through ix_messages_unread."""
    reader, chat = user_id(2 * 37), conversation_id(37)
    statements = plans_db.capture(lambda: messaging.mark_read(reader, chat, None))
    updates = [s for s in touching_messages(statements) if s.sql.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1, [s.sql for s in statements]
    plan = plans_db.explain(updates[0])
    assert seq_scans_on_messages(plan) == [], f"{updates[0].sql}\n{json.dumps(plan, indent=1)}"
    assert uses_index(plan, UNREAD_INDEX), f"{updates[0].sql}\n{json.dumps(plan, indent=1)}"
