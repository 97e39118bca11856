"""Search reads its index, never the whole messages table (PostgreSQL, 100k messages).

The statements explained are the ones the search service runs (recorded by an engine
listener, as in tests/test_query_plans.py), on the benchmark's data (bench/search.py):
1,000 conversations of 100 messages, target users with 5 conversations of 100 messages
each, a rare word, a common word (30 % of messages) and a common prefix (10 %).
"""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from support.logs import logging_config_kept
from test_query_plans import Captured, PlansDatabase, plan_nodes, seq_scans_on_messages, uses_index

from app import create_app
from app.extensions import db
from app.services import search
from bench import search as data
from config import TestingConfig

pytestmark = pytest.mark.slow

MESSAGES = 100_000
# 100 messages a conversation, as many as the targets' conversations hold (and as at 1M
# messages in 10,000 conversations): the planner estimates a user's messages from the
# table's average conversation.
CONVERSATIONS = 1_000
SEARCH_INDEX = "ix_messages_search_document"
CONVERSATION_INDEX = "uq_messages_conversation_seq"


@pytest.fixture(scope="module")
def search_db(pg_databases: Any) -> Iterator[tuple[PlansDatabase, list[dict[str, Any]]]]:
    """A migrated database of 100k messages, analysed, and its target users."""
    url = pg_databases.create("search_plans")
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        with logging_config_kept():
            flask_migrate.upgrade()
        db.engine.dispose()
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    data.add_filler_conversations(engine, CONVERSATIONS)
    targets = data.add_targets(engine)
    have = data.count_messages(engine)
    data.add_filler_messages(engine, 0, MESSAGES - have, CONVERSATIONS)
    data.vacuum_analyze(engine)
    assert data.count_messages(engine) == MESSAGES
    engine.dispose()
    yield PlansDatabase(app), targets
    with app.app_context():
        db.engine.dispose()


def search_statement(plans: PlansDatabase, user: str, q: str, **options: Any) -> Captured:
    """The SELECT the search runs (the one with the full-text condition)."""
    statements = plans.capture(lambda: search.search_messages(uuid.UUID(user), q, **options))
    matching = [s for s in statements if "@@" in s.sql]
    assert len(matching) == 1, [s.sql for s in statements]
    return matching[0]


def explained(plans: PlansDatabase, statement: Captured) -> tuple[dict[str, Any], str]:
    plan = plans.explain(statement)
    return plan, f"{statement.sql}\n{json.dumps(plan, indent=1)}"


@pytest.mark.parametrize(
    ("q", "index"),
    [("zanzibar", SEARCH_INDEX), ('"zanzibar"', SEARCH_INDEX), ("hello", CONVERSATION_INDEX), ("meet", None)],
    ids=["rare-prefix", "rare-phrase", "common", "common-prefix"],
)
def test_a_search_over_my_conversations_reads_an_index(search_db, q, index):
    """A rare word comes from the GIN index; a common one from the user's conversations."""
    plans, targets = search_db
    plan, shown = explained(plans, search_statement(plans, targets[0]["user"], q))
    assert seq_scans_on_messages(plan) == [], shown
    assert any(uses_index(plan, name) for name in (SEARCH_INDEX, CONVERSATION_INDEX)), shown
    if index is not None:
        assert uses_index(plan, index), shown


def test_a_search_in_one_conversation_and_a_page_after_a_cursor_read_an_index(search_db):
    plans, targets = search_db
    target = targets[1]
    with plans.app.app_context():
        page = search.search_messages(uuid.UUID(target["user"]), "hello", limit=5)
        db.session.remove()
    cursor = str(page.results[-1].message.id)
    for options in (
        {"conversation_id": uuid.UUID(target["conversations"][0])},
        {"before": uuid.UUID(cursor)},
        {"conversation_id": uuid.UUID(target["conversations"][0]), "before": uuid.UUID(cursor)},
    ):
        statements = plans.capture(
            lambda options=options: search.search_messages(
                uuid.UUID(target["user"]), "zanzibar hello", **options
            )
        )
        for statement in statements:
            if "messages" not in statement.sql:
                continue
            plan, shown = explained(plans, statement)
            assert seq_scans_on_messages(plan) == [], shown


def test_a_rare_word_plan_never_recomputes_the_document_of_many_rows(search_db):
    """The GIN index answers a rare word: a bitmap of a few rows, no filter over the user's messages."""
    plans, targets = search_db
    statement = search_statement(plans, targets[2]["user"], "zanzibar")
    with plans.app.app_context(), db.engine.connect() as conn:
        raw = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement.sql, statement.params)
        plan = raw.scalar_one()
    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    removed = sum(node.get("Rows Removed by Filter", 0) for node in plan_nodes(plan))
    assert uses_index(plan, SEARCH_INDEX), json.dumps(plan, indent=1)
    assert removed < 50, json.dumps(plan, indent=1)
