"""Message search: the caller's conversations (archived ones too), newest first, through
each database's full-text index (app/models/search_index.py).

User text never reaches to_tsquery or MATCH as syntax. Each term of the parsed query
(app/services/search_query.py) is a string the database splits into words with the
same rules it applied to the messages: on PostgreSQL the term goes through
`message_search_text` into `phraseto_tsquery` (plain text, no operators) or, for the
prefix term, into `to_tsquery` as one quoted lexeme of letters and digits; on SQLite
it becomes an FTS5 string ("...", quotes doubled). So a word typed as it was written is
always found, and the database's own folding decides what else matches.
"""

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app import clock
from app.database import read_transaction
from app.errors import InvalidCursor, InvalidQuery
from app.extensions import db
from app.models import ConversationParticipant, Message
from app.models.search_index import DOCUMENT_FUNCTION, SEARCH_CONFIG, TEXT_FUNCTION, messages_fts
from app.services.conversations import require_participant
from app.services.expiry import visible_at
from app.services.search_query import ParsedQuery, QueryProblem, Segment, Term, parse_query, segments

_CONFIG = sa.literal_column(f"'{SEARCH_CONFIG}'::regconfig")


@dataclass(frozen=True)
class SearchResult:
    """A message that matched, and its content cut into marked segments."""

    message: Message
    segments: list[Segment]


@dataclass(frozen=True)
class SearchPage:
    """Up to `limit` results, newest first, and whether older ones exist."""

    results: list[SearchResult]
    has_more: bool


def search_messages(
    user_id: uuid.UUID,
    q: str,
    *,
    conversation_id: uuid.UUID | None = None,
    limit: int = 20,
    before: uuid.UUID | None = None,
) -> SearchPage:
    """The user's visible messages that match `q`, newest first, older than `before`.

    InvalidQuery for a q without a searchable word (or too short or long),
    ConversationNotFound for a conversation the user is not in, InvalidCursor for a
    `before` that is not a visible message within the search.
    """
    try:
        query = parse_query(q)
    except QueryProblem as problem:
        raise InvalidQuery(str(problem)) from None
    if conversation_id is not None:
        require_participant(conversation_id, user_id)
    now = clock.now()
    with read_transaction():
        scope = _scope(user_id, conversation_id)
        statement = sa.select(Message).where(scope, visible_at(now), _matches(query))
        if before is not None:
            statement = statement.where(_older_than(before, scope, now))
        statement = statement.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit + 1)
        rows = list(db.session.scalars(statement))
    results = [SearchResult(message, segments(message.content, query)) for message in rows[:limit]]
    return SearchPage(results, has_more=len(rows) > limit)


def _scope(user_id: uuid.UUID, conversation_id: uuid.UUID | None) -> sa.ColumnElement[bool]:
    """The messages the search may look at: one conversation, or all of the user's."""
    if conversation_id is not None:
        return Message.conversation_id == conversation_id
    mine = sa.select(ConversationParticipant.conversation_id).where(
        ConversationParticipant.user_id == user_id
    )
    return Message.conversation_id.in_(mine)


def _older_than(before: uuid.UUID, scope: sa.ColumnElement[bool], now: datetime) -> sa.ColumnElement[bool]:
    """Messages after the cursor in the result order (created_at, id descending)."""
    cursor = db.session.execute(
        sa.select(Message.created_at, Message.id).where(Message.id == before, scope, visible_at(now))
    ).first()
    if cursor is None:
        raise InvalidCursor("The cursor is not a message this search can show.")
    return sa.or_(
        Message.created_at < cursor.created_at,
        sa.and_(Message.created_at == cursor.created_at, Message.id < cursor.id),
    )


def _matches(query: ParsedQuery) -> sa.ColumnElement[bool]:
    """The full-text condition of the session's database."""
    if db.session.get_bind().dialect.name == "postgresql":
        return _postgresql_matches(query)
    return _sqlite_matches(query)


def _postgresql_term(term: Term) -> sa.ColumnElement:
    """One term as a tsquery: its words in order, the last one a prefix for a prefix term."""
    words = getattr(sa.func, TEXT_FUNCTION)(sa.literal(term.text, sa.Text))
    if term.prefix:  # letters, digits and spaces only: a safe quoted lexeme
        return sa.func.to_tsquery(_CONFIG, sa.func.quote_literal(words).concat(":*"))
    return sa.func.phraseto_tsquery(_CONFIG, words)


def _postgresql_matches(query: ParsedQuery) -> sa.ColumnElement[bool]:
    """document @@ (term && term && ...), on the GIN-indexed expression."""
    tsquery = functools.reduce(
        lambda left, right: left.op("&&")(right), (_postgresql_term(term) for term in query.terms)
    )
    document = getattr(sa.func, DOCUMENT_FUNCTION)(Message.content)
    return document.bool_op("@@")(tsquery)


def _fts5_string(term: Term) -> str:
    """One term as an FTS5 string: its words in order; `*` makes the last a prefix."""
    quoted = '"' + term.text.replace('"', '""') + '"'
    return quoted + "*" if term.prefix else quoted


def _sqlite_matches(query: ParsedQuery) -> sa.ColumnElement[bool]:
    """The message's rowid is among the FTS5 table's matches (every term: implicit AND)."""
    expression = " ".join(_fts5_string(term) for term in query.terms)
    found = sa.select(messages_fts.c.rowid).where(
        sa.literal_column(messages_fts.name).bool_op("MATCH")(sa.literal(expression, sa.Text))
    )
    return sa.literal_column("messages.rowid").in_(found)
