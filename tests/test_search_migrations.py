"""The search index's schema objects: the migration indexes existing messages, undoes
everything, says what the models say; PostgreSQL without unaccent or with the C locale."""

import importlib.util
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from support.logs import logging_config_kept

from app import create_app
from app.extensions import db
from app.models import search_index
from app.services.search import search_messages
from config import TestingConfig

MIGRATION = (
    Path(__file__).resolve().parents[1] / "migrations" / "versions" / "d8e2b5c1f4a6_message_search_indexes.py"
)
BEFORE_SEARCH = "c3f1a7d9e2b4"
ALICE, BOB = (
    uuid.UUID("00000000-0000-7000-8000-00000000a11c"),
    uuid.UUID("00000000-0000-7000-8000-000000000b0b"),
)
CHAT = uuid.UUID("00000000-0000-7000-8000-0000000000c1")


@pytest.fixture(autouse=True)
def keep_logging_config() -> Iterator[None]:
    """Leave logging as the other tests expect it, whatever the migrations did to it."""
    with logging_config_kept():
        yield


def load_migration() -> Any:
    """The migration module, loaded from its file (it is not a package)."""
    spec = importlib.util.spec_from_file_location("search_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def squeezed(statements: Any) -> list[str]:
    return [re.sub(r"\s+", " ", statement).strip() for statement in statements]


def test_the_migration_carries_the_models_search_ddl():
    """Migrations cannot import the app, so the DDL is copied: the copies must agree."""
    migration = load_migration()
    assert squeezed(migration.POSTGRESQL_CREATE) == squeezed(search_index.POSTGRESQL_CREATE)
    assert squeezed(migration.POSTGRESQL_DROP) == squeezed(search_index.POSTGRESQL_DROP)
    assert squeezed(migration.SQLITE_CREATE) == squeezed(search_index.SQLITE_CREATE)
    from sqlalchemy.dialects import postgresql

    modelled = str(
        sa.schema.CreateIndex(search_index.search_document_index).compile(dialect=postgresql.dialect())
    )
    assert squeezed([migration.POSTGRESQL_INDEX.replace(" CONCURRENTLY", "")]) == squeezed([modelled])


def app_on(url: str) -> Any:
    return create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)


def add_history(contents: list[str]) -> None:
    """Users, their conversation and messages written directly, as an older version left them."""
    tables = db.metadata.tables
    at = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    with db.engine.begin() as conn:
        conn.execute(
            sa.insert(tables["users"]),
            [
                {"id": user, "username": name, "display_name": name, "password_hash": "x", "created_at": at}
                for user, name in ((ALICE, "alice"), (BOB, "bob"))
            ],
        )
        conn.execute(
            sa.insert(tables["conversations"]).values(
                id=CHAT, pair_key=f"{ALICE}:{BOB}", created_at=at, updated_at=at, last_seq=len(contents)
            )
        )
        conn.execute(
            sa.insert(tables["conversation_participants"]),
            [{"conversation_id": CHAT, "user_id": user, "joined_at": at} for user in (ALICE, BOB)],
        )
        conn.execute(
            sa.insert(tables["messages"]),
            [
                {
                    "id": uuid.uuid4(),
                    "conversation_id": CHAT,
                    "seq": seq,
                    "sender_id": ALICE,
                    "content": content,
                    "is_expired": False,
                    "is_read": False,
                    "points_charged": 0,
                    "created_at": at + timedelta(minutes=seq),
                    "updated_at": at,
                }
                for seq, content in enumerate(contents, start=1)
            ],
        )


def found(q: str) -> list[str]:
    try:
        return [result.message.content for result in search_messages(BOB, q).results]
    finally:
        db.session.remove()


def sqlite_objects() -> set[str]:
    with db.engine.connect() as conn:
        return set(
            conn.execute(sa.text("SELECT name FROM sqlite_master WHERE name LIKE 'messages_fts%'")).scalars()
        )


def test_sqlite_upgrade_indexes_existing_messages_and_downgrade_removes_everything(tmp_path: Path):
    app = app_on(f"sqlite:///{tmp_path / 'existing.db'}")
    with app.app_context():
        try:
            flask_migrate.upgrade(revision=BEFORE_SEARCH)
            add_history(["Café at noon", "the old plan"])
            flask_migrate.upgrade()
            assert sqlite_objects() == search_index.SQLITE_FTS_TABLES | search_index.SQLITE_TRIGGERS
            assert found("cafe") == ["Café at noon"]
            assert found("plan") == ["the old plan"]
            with db.engine.begin() as conn:  # the external-content index agrees with messages
                conn.execute(
                    sa.text("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
                )
            flask_migrate.downgrade(revision=BEFORE_SEARCH)
            assert sqlite_objects() == set()
            with db.engine.begin() as conn:  # messages can still be written without the triggers' table
                conn.execute(
                    sa.text("UPDATE messages SET content = 'the new plan' WHERE content = 'the old plan'")
                )
            flask_migrate.upgrade()
            assert found("new plan") == ["the new plan"]
            assert found("old") == []
        finally:
            db.session.remove()
            db.engine.dispose()


def postgres_search_objects() -> dict[str, set[str]]:
    with db.engine.connect() as conn:
        return {
            "functions": set(
                conn.execute(
                    sa.text("SELECT proname FROM pg_proc WHERE proname LIKE 'message_search%'")
                ).scalars()
            ),
            "indexes": set(
                conn.execute(
                    sa.text(
                        "SELECT indexname FROM pg_indexes WHERE indexname = 'ix_messages_search_document'"
                    )
                ).scalars()
            ),
            "extensions": set(
                conn.execute(sa.text("SELECT extname FROM pg_extension WHERE extname = 'unaccent'")).scalars()
            ),
        }


def test_postgres_upgrade_indexes_existing_messages_and_downgrade_removes_everything(pg_databases: Any):
    app = app_on(pg_databases.create("search_existing"))
    with app.app_context():
        try:
            flask_migrate.upgrade(revision=BEFORE_SEARCH)
            add_history(["Café at noon", "the old plan"])
            flask_migrate.upgrade()
            assert postgres_search_objects() == {
                "functions": {"message_search_text", "message_search_document"},
                "indexes": {"ix_messages_search_document"},
                "extensions": {"unaccent"},
            }
            assert found("cafe") == ["Café at noon"]
            assert found("plan") == ["the old plan"]
            with db.engine.connect() as conn:  # the migration analysed the indexed expression
                analysed = conn.execute(
                    sa.text("SELECT count(*) FROM pg_stats WHERE tablename = 'ix_messages_search_document'")
                ).scalar_one()
            assert analysed == 1
            flask_migrate.downgrade(revision=BEFORE_SEARCH)
            assert postgres_search_objects() == {"functions": set(), "indexes": set(), "extensions": set()}
            flask_migrate.upgrade()
            assert found("plan") == ["the old plan"]
        finally:
            db.session.remove()
            db.engine.dispose()


def create_database(pg_databases: Any, label: str, clause: str = "") -> str:
    """A database made with extra CREATE DATABASE options; dropped with the others."""
    name = f"{pg_databases.prefix}_{label}_{uuid.uuid4().hex[:10]}"
    with pg_databases.engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" {clause}'))
    pg_databases.created.append(name)
    return pg_databases.url(name)


def lexemes(conn: sa.Connection, text: str) -> set[str]:
    """The words message_search_document makes of `text`."""
    query = sa.text("SELECT unnest(tsvector_to_array(message_search_document(:t)))")
    return set(conn.execute(query, {"t": text}).scalars())


def test_postgres_with_the_c_locale_still_folds_every_script(pg_databases: Any):
    """PostgreSQL's C locale knows only ASCII letters: the index then uses the ICU root collation."""
    url = create_database(pg_databases, "c_locale", "TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("SHOW lc_ctype")).scalar_one() == "C"
            db.metadata.create_all(conn)
            assert lexemes(conn, "ΣΟΦΊΑ Ёлка Café ÜBER") == {"σοφια", "елка", "cafe", "uber"}
    finally:
        engine.dispose()


def test_postgres_without_unaccent_matches_accents_exactly(pg_databases: Any, caplog: Any):
    """Where the unaccent extension cannot be created, search works with a warning, accents exact."""
    role = f"search_no_ext_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_databases, "no_unaccent")
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(sa.text(f'GRANT CREATE ON SCHEMA public TO "{role}"'))  # tables, not extensions
    limited = sa.create_engine(url.replace("//postgres@", f"//{role}@"), poolclass=sa.pool.NullPool)
    try:
        with limited.begin() as conn:
            # SQLAlchemy logs the server's notices and warnings (at INFO) under this logger.
            with caplog.at_level(logging.INFO, logger="sqlalchemy.dialects.postgresql"):
                db.metadata.create_all(conn)
            assert "unaccent extension is unavailable" in caplog.text
            assert lexemes(conn, "Café ÉTÉ") == {"café", "été"}
            matches = sa.text(
                "SELECT message_search_document('Café ÉTÉ') "
                "@@ phraseto_tsquery('simple', message_search_text(:q))"
            )
            assert conn.execute(matches, {"q": "CAFÉ"}).scalar_one() is True
            assert conn.execute(matches, {"q": "cafe"}).scalar_one() is False
            assert (
                conn.execute(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'unaccent'")).scalar()
                == 0
            )
    finally:
        limited.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text("DROP OWNED BY " + f'"{role}"'))
        admin.dispose()
        pg_databases.drop(url)
        with pg_databases.engine.connect() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
