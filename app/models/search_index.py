"""The full-text index of message content, on each database.

- PostgreSQL: `message_search_document(content)`, a tsvector of the 'simple'
  configuration (no stemming, no stop words: a multilingual chat), indexed by GIN. The
  text is lowercased, unaccented (the `unaccent` extension, when it can be installed)
  and split on every character that is not a letter or digit, so "example.com/x" gives
  the words example, com and x. `message_search_text` is that normalisation alone: the
  query terms go through it too (app/services/search.py), so a word typed exactly as
  written is always found, whatever the database's locale makes of it. On a database
  whose LC_CTYPE is C (where PostgreSQL's own rules know only ASCII letters),
  lowercasing and the letter/digit test use the ICU root collation instead, where
  PostgreSQL has ICU. The functions are declared costly (COST 1000, near what they take
  per row) so that the planner reads a rare word from the GIN index, but a common word
  from the messages of the user's conversations (their conversation index) when the
  user has few.
  The migration runs ANALYZE after building the index: without statistics on the
  indexed expression the planner cannot tell a rare word from a common one.
- SQLite: `messages_fts`, an FTS5 external-content table over `messages` (its rowid is
  the message's rowid), tokenizer unicode61 with diacritics removed, kept in step by
  triggers on INSERT, DELETE and UPDATE OF content.

The DDL is attached to the `messages` table, so `db.create_all()` builds it; the
migration d8e2b5c1f4a6 holds a copy (migrations never import the app).
"""

import sqlalchemy as sa

from app.models.message import Message

messages = Message.__table__

SEARCH_CONFIG = "simple"
DOCUMENT_FUNCTION = "message_search_document"
TEXT_FUNCTION = "message_search_text"
POSTGRESQL_INDEX = "ix_messages_search_document"

SQLITE_FTS_TABLE = "messages_fts"
# What FTS5 creates with it (external content: no _content table).
SQLITE_FTS_TABLES = frozenset(
    {SQLITE_FTS_TABLE, *(f"{SQLITE_FTS_TABLE}_{part}" for part in ("config", "data", "docsize", "idx"))}
)
SQLITE_TRIGGERS = frozenset(
    {"messages_fts_after_insert", "messages_fts_after_delete", "messages_fts_after_update"}
)

# The unaccent extension is optional: without it (not installed on the server, or no
# right to create it) accents are matched exactly, and PostgreSQL logs the warning.
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
    # Built by format() because the names depend on where unaccent lives and whether ICU
    # exists; both functions name everything with its schema, so that restoring a dump
    # (which runs with an empty search_path) can rebuild the index.
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
POSTGRESQL_DROP = (
    "DROP FUNCTION IF EXISTS message_search_document(text)",
    "DROP FUNCTION IF EXISTS message_search_text(text)",
)

SQLITE_CREATE = (
    f"""
    CREATE VIRTUAL TABLE {SQLITE_FTS_TABLE} USING fts5(
        content, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
    )
    """,
    f"""
    CREATE TRIGGER messages_fts_after_insert AFTER INSERT ON messages BEGIN
        INSERT INTO {SQLITE_FTS_TABLE}(rowid, content) VALUES (new.rowid, new.content);
    END
    """,
    f"""
    CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages BEGIN
        INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}, rowid, content)
            VALUES ('delete', old.rowid, old.content);
    END
    """,
    f"""
    CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}, rowid, content)
            VALUES ('delete', old.rowid, old.content);
        INSERT INTO {SQLITE_FTS_TABLE}(rowid, content) VALUES (new.rowid, new.content);
    END
    """,
)
SQLITE_DROP = (f"DROP TABLE IF EXISTS {SQLITE_FTS_TABLE}",)  # the triggers went with messages

# The GIN index is part of the model (autogenerate compares it); the functions it calls
# are created just before the messages table and dropped after it.
search_document_index = sa.Index(
    POSTGRESQL_INDEX,
    getattr(sa.func, DOCUMENT_FUNCTION)(messages.c.content),
    postgresql_using="gin",
).ddl_if(dialect="postgresql")

for _statement in POSTGRESQL_CREATE:
    sa.event.listen(messages, "before_create", sa.DDL(_statement).execute_if(dialect="postgresql"))
for _statement in POSTGRESQL_DROP:
    sa.event.listen(messages, "after_drop", sa.DDL(_statement).execute_if(dialect="postgresql"))
for _statement in SQLITE_CREATE:
    sa.event.listen(messages, "after_create", sa.DDL(_statement).execute_if(dialect="sqlite"))
for _statement in SQLITE_DROP:
    sa.event.listen(messages, "after_drop", sa.DDL(_statement).execute_if(dialect="sqlite"))

# The FTS5 table, for queries (not part of the metadata: the DDL above makes it).
messages_fts = sa.table(SQLITE_FTS_TABLE, sa.column("rowid", sa.Integer))
