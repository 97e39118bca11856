"""message search: PostgreSQL full text with a GIN index; SQLite FTS5 kept by triggers

Revision ID: d8e2b5c1f4a6
Revises: c3f1a7d9e2b4
Create Date: 2026-11-29 12:30:00

A copy of the DDL in app/models/search_index.py (migrations never import the app;
tests/test_search_migrations.py checks that the two say the same).

PostgreSQL: the unaccent extension where it can be created (without it accents are
matched exactly, and the server logs a warning), the functions message_search_text and
message_search_document, and the GIN index ix_messages_search_document on
message_search_document(content). The index is built CONCURRENTLY, outside the
migration's transaction, so sends go on while the existing messages are indexed.

SQLite: the FTS5 table messages_fts over messages (external content, by rowid), its
triggers on INSERT, DELETE and UPDATE OF content, then a 'rebuild' that indexes the
existing messages. A later batch migration that rebuilds the messages table on SQLite
drops these triggers with it and may renumber rowids: it must recreate the triggers
and run the 'rebuild' again.
"""
from alembic import op
import sqlalchemy as sa


revision = 'd8e2b5c1f4a6'
down_revision = 'c3f1a7d9e2b4'
branch_labels = None
depends_on = None

POSTGRESQL_CREATE = (
    """
    DO $do$
    BEGIN
        CREATE EXTENSION IF NOT EXISTS unaccent;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'message search: the unaccent extension is unavailable (%%); '
            'searches will match accents exactly', SQLERRM;
    END
    $do$
    """,
    """
    DO $do$
    DECLARE
        here text := quote_ident(current_schema());
        unaccent_schema text;
        collate_clause text := '';
        folded text;
    BEGIN
        SELECT quote_ident(n.nspname) INTO unaccent_schema
            FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
            WHERE e.extname = 'unaccent';
        IF (SELECT datctype FROM pg_database WHERE datname = current_database()) IN ('C', 'POSIX')
                AND EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
            collate_clause := ' COLLATE "und-x-icu"';
        ELSIF (SELECT datctype FROM pg_database WHERE datname = current_database()) IN ('C', 'POSIX') THEN
            RAISE WARNING 'message search: the database''s LC_CTYPE is C and PostgreSQL has no ICU: '
                'only ASCII letters are searchable';
        END IF;
        folded := format('lower($1%%s)', collate_clause);
        IF unaccent_schema IS NOT NULL THEN
            folded := format('%%s.unaccent(%%L::regdictionary, %%s)',
                             unaccent_schema, unaccent_schema || '.unaccent', folded);
        END IF;
        EXECUTE format(
            'CREATE FUNCTION %%s.message_search_text(text) RETURNS text '
            'LANGUAGE sql IMMUTABLE PARALLEL SAFE COST 1000 AS %%L',
            here,
            format('SELECT regexp_replace(%%s%%s, %%L, '' '', ''g'')',
                   folded, collate_clause, '[^[:alnum:]]+'));
        EXECUTE format(
            'CREATE FUNCTION %%s.message_search_document(text) RETURNS tsvector '
            'LANGUAGE sql IMMUTABLE PARALLEL SAFE COST 1000 AS %%L',
            here,
            format('SELECT to_tsvector(''simple''::regconfig, %%s.message_search_text($1))', here));
    END
    $do$
    """,
)
POSTGRESQL_INDEX = (
    "CREATE INDEX CONCURRENTLY ix_messages_search_document ON messages "
    "USING gin (message_search_document(content))"
)
POSTGRESQL_DROP = (
    "DROP FUNCTION IF EXISTS message_search_document(text)",
    "DROP FUNCTION IF EXISTS message_search_text(text)",
)
# The extension goes too, unless something else uses it by now.
POSTGRESQL_DROP_EXTENSION = """
    DO $do$
    BEGIN
        DROP EXTENSION IF EXISTS unaccent;
    EXCEPTION WHEN dependent_objects_still_exist THEN
        RAISE NOTICE 'unaccent is used by other objects: kept';
    END
    $do$
"""

SQLITE_CREATE = (
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER messages_fts_after_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content);
    END
    """,
    """
    CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.rowid, old.content);
    END
    """,
    """
    CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.rowid, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content);
    END
    """,
)
SQLITE_REBUILD = "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')"
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS messages_fts_after_update",
    "DROP TRIGGER IF EXISTS messages_fts_after_delete",
    "DROP TRIGGER IF EXISTS messages_fts_after_insert",
    "DROP TABLE IF EXISTS messages_fts",
)


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for statement in POSTGRESQL_CREATE:
            op.execute(sa.DDL(statement))  # DDL: no bind parameters ([:alnum:]), %% is %
        with op.get_context().autocommit_block():
            op.execute(sa.DDL(POSTGRESQL_INDEX))
            # Statistics on the indexed expression tell the planner a rare word from a common one.
            op.execute(sa.DDL("ANALYZE messages"))
    elif dialect == "sqlite":
        for statement in SQLITE_CREATE:
            op.execute(sa.DDL(statement))
        op.execute(sa.DDL(SQLITE_REBUILD))


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(sa.DDL("DROP INDEX IF EXISTS ix_messages_search_document"))
        for statement in POSTGRESQL_DROP:
            op.execute(sa.DDL(statement))
        op.execute(sa.DDL(POSTGRESQL_DROP_EXTENSION))
    elif dialect == "sqlite":
        for statement in SQLITE_DROP:
            op.execute(sa.DDL(statement))
