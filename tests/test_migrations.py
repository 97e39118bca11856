"""The Alembic migrations build exactly the schema the models describe, and can be undone."""

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from support.logs import logging_config_kept

from app import create_app
from app.extensions import db
from app.models.search_index import SQLITE_FTS_TABLES  # message search: FTS5 and its shadow tables
from config import TestingConfig

MESSAGE_INDEXES = {
    "ix_messages_unexpired_expiry",
    "ix_messages_unread",
    "ix_messages_sender_id",
}


@pytest.fixture(autouse=True)
def keep_logging_config() -> Iterator[None]:
    """Leave logging as the other tests expect it, whatever the migrations did to it."""
    with logging_config_kept():
        yield


def app_on(url: str) -> Any:
    """The app bound to `url` (no tables are created: the migrations do that)."""
    return create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)


def schema_diff() -> list[Any]:
    """What autogenerate would still write: differences between the database and the models."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def model_tables() -> set[str]:
    """The tables the models declare (known once create_app has imported app.models)."""
    tables = {table.name for table in db.metadata.sorted_tables}
    assert {"users", "messages", "points_wallets", "points_transactions", "message_quotas"} <= tables
    return tables


def table_names() -> set[str]:
    """The tables of the app's database."""
    return set(sa.inspect(db.engine).get_table_names())


def test_migrations_on_empty_postgres_build_exactly_the_models_schema(pg_databases: Any) -> None:
    """Upgrading an empty PostgreSQL database leaves nothing for autogenerate to add or change."""
    app = app_on(pg_databases.create("migrate"))
    with app.app_context():
        try:
            flask_migrate.upgrade()
            assert table_names() == model_tables() | {"alembic_version"}
            assert schema_diff() == []
        finally:
            db.engine.dispose()


def postgres_catalog(engine: sa.Engine) -> dict[str, set[tuple]]:
    """Columns, index definitions (with their WHERE) and constraint definitions, as PostgreSQL has them."""
    queries = {
        "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default, "
        "character_maximum_length FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name <> 'alembic_version'",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = 'public' AND tablename <> 'alembic_version'",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
        "AND conrelid::regclass::text <> 'alembic_version'",
    }
    with engine.connect() as conn:
        return {name: {tuple(row) for row in conn.execute(sa.text(sql))} for name, sql in queries.items()}


def test_migrated_postgres_catalog_equals_create_all_including_partial_index_predicates(
    pg_databases: Any,
) -> None:
    """What autogenerate cannot see (partial index WHERE clauses, defaults) also matches the models."""
    migrated_app = app_on(pg_databases.create("migrate_catalog"))
    with migrated_app.app_context():
        try:
            flask_migrate.upgrade()
            migrated = postgres_catalog(db.engine)
        finally:
            db.engine.dispose()
    modelled_app = app_on(pg_databases.create("create_all_catalog"))
    with modelled_app.app_context():
        try:
            db.create_all()
            modelled = postgres_catalog(db.engine)
        finally:
            db.engine.dispose()
    assert any("WHERE" in indexdef for _, _, indexdef in modelled["indexes"])
    for part in ("columns", "indexes", "constraints"):
        assert migrated[part] - modelled[part] == set(), part
        assert modelled[part] - migrated[part] == set(), part


def test_postgres_downgrade_to_base_then_upgrade_again_restores_the_schema(pg_databases: Any) -> None:
    """Every migration can be undone down to an empty database and applied again."""
    app = app_on(pg_databases.create("migrate_down"))
    with app.app_context():
        try:
            flask_migrate.upgrade()
            flask_migrate.downgrade(revision="base")
            assert table_names() == {"alembic_version"}
            with db.engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 0
                leftovers = conn.execute(
                    sa.text(
                        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = 'public' AND relname <> 'alembic_version' "
                        "AND relname <> 'alembic_version_pkc'"
                    )
                ).scalars()
                assert list(leftovers) == []
            flask_migrate.upgrade()
            assert table_names() == model_tables() | {"alembic_version"}
            assert schema_diff() == []
        finally:
            db.engine.dispose()


def test_migrations_upgrade_a_fresh_sqlite_file(tmp_path: Path) -> None:
    """The embedded default: the migrations create every table and index on a new SQLite file."""
    app = app_on(f"sqlite:///{tmp_path / 'fresh.db'}")
    with app.app_context():
        try:
            flask_migrate.upgrade()
            assert table_names() == model_tables() | SQLITE_FTS_TABLES | {"alembic_version"}
            # SQLAlchemy cannot reflect expression indexes on SQLite, so read sqlite_master instead.
            with db.engine.connect() as conn:
                indexes = set(
                    conn.execute(
                        sa.text(
                            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'"
                        )
                    ).scalars()
                )
                users_indexes = set(
                    conn.execute(
                        sa.text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users'")
                    ).scalars()
                )
            assert indexes >= MESSAGE_INDEXES
            assert "uq_users_username_lower" in users_indexes
        finally:
            db.session.remove()
            db.engine.dispose()


def test_sqlite_downgrade_to_base_then_upgrade_again(tmp_path: Path) -> None:
    """The batch-mode downgrade works on SQLite too, and the schema comes back."""
    app = app_on(f"sqlite:///{tmp_path / 'roundtrip.db'}")
    with app.app_context():
        try:
            flask_migrate.upgrade()
            flask_migrate.downgrade(revision="base")
            assert table_names() == {"alembic_version"}
            flask_migrate.upgrade()
            assert table_names() == model_tables() | SQLITE_FTS_TABLES | {"alembic_version"}
        finally:
            db.session.remove()
            db.engine.dispose()


def test_the_migrated_ledger_is_append_only_and_keeps_its_wallet(pg_databases: Any) -> None:
    """On PostgreSQL the database itself refuses to rewrite or drop the money history."""
    app = app_on(pg_databases.create("migrate_ledger"))
    with app.app_context():
        try:
            flask_migrate.upgrade()
            engine = db.engine
        finally:
            db.session.remove()
    users = {"rich": "00000000-0000-7000-8000-000000000001", "poor": "00000000-0000-7000-8000-000000000002"}
    with engine.begin() as conn:
        for name, user_id in users.items():
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, username, display_name, password_hash, created_at) "
                    "VALUES (:id, :name, :name, 'x', now())"
                ),
                {"id": user_id, "name": name},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO points_wallets (id, user_id, balance, updated_at) "
                    "VALUES (gen_random_uuid(), :id, 0, now())"
                ),
                {"id": user_id},
            )
        conn.execute(
            sa.text(
                "INSERT INTO points_transactions (id, user_id, amount, reason, balance_after, created_at) "
                "VALUES (gen_random_uuid(), :id, 10, 'grant', 10, now())"
            ),
            {"id": users["rich"]},
        )
    refused = [
        "UPDATE points_transactions SET amount = 1000",
        "DELETE FROM points_transactions",
        f"DELETE FROM points_wallets WHERE user_id = '{users['rich']}'",
        f"DELETE FROM users WHERE id = '{users['rich']}'",
    ]
    for statement in refused:
        with pytest.raises(sa.exc.DBAPIError, match=r"append-only|has ledger rows"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    with engine.begin() as conn:  # no ledger, nothing to keep
        conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": users["poor"]})
        conn.execute(sa.text("TRUNCATE points_transactions, points_wallets, users CASCADE"))
    engine.dispose()


def test_migrations_on_a_fresh_sqlite_file_build_exactly_the_models_schema(tmp_path: Path) -> None:
    """On SQLite too autogenerate finds nothing to add or change, once it leaves out the
    search tables raw DDL makes (as migrations/env.py's include_name does)."""
    app = app_on(f"sqlite:///{tmp_path / 'compare.db'}")
    with app.app_context():
        try:
            flask_migrate.upgrade()
            with db.engine.connect() as conn, warnings.catch_warnings():
                # SQLAlchemy cannot reflect SQLite's expression indexes and says so (the test
                # above finds them by name in sqlite_master).
                warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
                warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
                context = MigrationContext.configure(
                    conn,
                    opts={
                        "compare_type": True,
                        "include_name": lambda name, type_, _parents: (
                            not (type_ == "table" and name in SQLITE_FTS_TABLES)
                        ),
                    },
                )
                diff = compare_metadata(context, db.metadata)
            assert diff == []
        finally:
            db.session.remove()
            db.engine.dispose()
