"""One-to-one conversations: starting one (idempotent per pair) and listing them."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import clock
from app.database import read_connection, read_transaction, write_transaction
from app.errors import CannotMessageSelf, ConversationNotFound, PriceMismatch, UserNotFound
from app.extensions import db
from app.models import Conversation, ConversationParticipant, Message, User, pair_key
from app.schemas import ConversationOut, dump
from app.services import points
from app.services.events import Event
from app.services.expiry import visible_at


@dataclass(frozen=True)
class ConversationView:
    """A conversation as one participant sees it."""

    id: uuid.UUID
    participants: list[User]
    created_at: datetime
    updated_at: datetime
    last_message: Message | None
    unread_count: int
    archived: bool = False
    muted: bool = False
    expiration_hours: int | None = None
    expiration_set_by: uuid.UUID | None = None
    expiration_set_at: datetime | None = None


@dataclass(frozen=True)
class ConversationListing:
    """One list of the viewer's conversations (archived or not), with the archive's totals."""

    conversations: list[ConversationView]
    archived_count: int
    archived_unread_count: int


@dataclass(frozen=True)
class StartResult:
    """The outcome of starting a conversation."""

    conversation: ConversationView
    created: bool
    points_charged: int
    events: list[Event]


# Who is in a conversation never changes once it exists (a pair, fixed at creation),
# so each process remembers it: typing, receipts and page reads skip a query.
_PARTICIPANTS_CACHED = 50_000
_participants: dict[uuid.UUID, tuple[uuid.UUID, ...]] = {}


def participant_ids(conversation_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    """The ids of the users in a conversation (empty for an unknown conversation)."""
    cached = _participants.get(conversation_id)
    if cached is not None:
        return cached
    with read_connection() as connection:
        found = tuple(
            connection.scalars(
                sa.select(ConversationParticipant.user_id).where(
                    ConversationParticipant.conversation_id == conversation_id
                )
            )
        )
    if found:  # an unknown id is asked again next time: it may be created meanwhile
        if len(_participants) >= _PARTICIPANTS_CACHED:
            _participants.pop(next(iter(_participants)))  # the oldest entry
        _participants[conversation_id] = found
    return found


def take_next_seq(conversation_id: object) -> sa.Update:
    """The UPDATE that takes the conversation's next message seq (RETURNING it, and the
    chat's timer as it stands under the lock).

    Its row lock is held until the send commits, so concurrent sends into one
    conversation get their seq in the order they commit, with no gaps as long as the
    caller runs it only for a message it then stores in the same transaction.
    """
    conversations = Conversation.__table__
    return (
        sa.update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(last_seq=conversations.c.last_seq + 1)
        .returning(conversations.c.last_seq, conversations.c.expiration_hours)
    )


def require_participant(conversation_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Raise ConversationNotFound unless the user takes part in the conversation."""
    if user_id not in participant_ids(conversation_id):
        raise ConversationNotFound()


def start_conversation(
    creator_id: uuid.UUID, receiver_id: uuid.UUID, agreed_price: int | None, price: int
) -> StartResult:
    """Start (or return) the conversation of a pair; charges `price` points for a new one."""
    if creator_id == receiver_id:
        raise CannotMessageSelf()
    try:
        with write_transaction():
            conversation_id, created = _find_or_create(creator_id, receiver_id, agreed_price, price)
    except IntegrityError:  # the other participant started it at the same moment
        conversation_id, created = _find_pair(creator_id, receiver_id), False
        if conversation_id is None:
            raise
    if not created:
        return StartResult(view_conversation(conversation_id, creator_id), False, 0, [])
    for_receiver = view_conversation(conversation_id, receiver_id)
    event = Event("conversation:new", dump(ConversationOut, for_receiver), (str(receiver_id),))
    return StartResult(view_conversation(conversation_id, creator_id), True, price, [event])


def _find_or_create(
    creator_id: uuid.UUID, receiver_id: uuid.UUID, agreed_price: int | None, price: int
) -> tuple[uuid.UUID, bool]:
    """The pair's conversation id and whether it was created now (in the caller's transaction)."""
    existing = _find_pair(creator_id, receiver_id)
    if existing is None and agreed_price is not None and agreed_price != price:
        raise PriceMismatch(price=price)
    if db.session.get(User, receiver_id) is None:
        raise UserNotFound()
    if existing is not None:
        return existing, False
    now = clock.now()
    conversation = Conversation(pair_key=pair_key(creator_id, receiver_id), created_at=now, updated_at=now)
    db.session.add(conversation)
    db.session.flush()
    db.session.add_all(
        [
            ConversationParticipant(conversation_id=conversation.id, user_id=uid, joined_at=now)
            for uid in (creator_id, receiver_id)
        ]
    )
    db.session.flush()
    if price:
        points.debit(creator_id, price, "conversation_start", conversation_id=conversation.id)
    return conversation.id, True


def _find_pair(first: uuid.UUID, second: uuid.UUID) -> uuid.UUID | None:
    return db.session.scalar(
        sa.select(Conversation.id).where(Conversation.pair_key == pair_key(first, second))
    )


def view_conversation(conversation_id: uuid.UUID, viewer_id: uuid.UUID) -> ConversationView:
    """One conversation as the viewer sees it."""
    views = _views(viewer_id, only=conversation_id)
    if not views:
        raise ConversationNotFound()
    return views[0]


def list_conversations(viewer_id: uuid.UUID, archived: bool = False) -> ConversationListing:
    """The viewer's archived or other conversations, latest activity first, with how
    many are archived and how many unread messages those hold."""
    with read_transaction():
        views = _views(viewer_id, archived=archived)
        now = clock.now()
        totals = db.session.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(_unread_count(viewer_id, now)), 0),
            )
            .select_from(Conversation)
            .join(ConversationParticipant, ConversationParticipant.conversation_id == Conversation.id)
            .where(
                ConversationParticipant.user_id == viewer_id, ConversationParticipant.archived_at.is_not(None)
            )
        ).one()
    return ConversationListing(views, int(totals[0]), int(totals[1]))


def _unread_count(viewer_id: uuid.UUID, now: datetime) -> sa.ScalarSelect:
    """The number of visible messages of others the viewer has not read, per conversation."""
    return (
        sa.select(sa.func.count())
        .where(
            Message.conversation_id == Conversation.id,
            Message.is_read == sa.false(),
            Message.sender_id != viewer_id,
            visible_at(now),
        )
        .scalar_subquery()
    )


def _aware(moment: datetime | str) -> datetime:
    """A timestamp from a computed column (SQLite returns text, PostgreSQL naive or aware)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _views(
    viewer_id: uuid.UUID, only: uuid.UUID | None = None, archived: bool | None = None
) -> list[ConversationView]:
    """Three set-based queries: conversations with counts, participants, last messages."""
    now = clock.now()
    newest_visible = (
        sa.select(Message.id, Message.created_at)
        .where(Message.conversation_id == Conversation.id, visible_at(now))
        .order_by(Message.seq.desc())
        .limit(1)
    )
    last_message_id = newest_visible.with_only_columns(Message.id).scalar_subquery()
    last_activity = sa.func.coalesce(
        newest_visible.with_only_columns(Message.created_at).scalar_subquery(), Conversation.created_at
    )
    query = (
        sa.select(
            Conversation,
            ConversationParticipant.archived_at,
            ConversationParticipant.muted,
            last_message_id.label("last_id"),
            last_activity.label("last_activity"),
            _unread_count(viewer_id, now).label("unread"),
        )
        .join(ConversationParticipant, ConversationParticipant.conversation_id == Conversation.id)
        .where(ConversationParticipant.user_id == viewer_id)
        .order_by(sa.desc("last_activity"), Conversation.id.desc())
    )
    if only is not None:
        query = query.where(Conversation.id == only)
    if archived is not None:
        archive = ConversationParticipant.archived_at
        query = query.where(archive.is_not(None) if archived else archive.is_(None))
    rows = db.session.execute(query).all()
    if not rows:
        return []
    ids = [row.Conversation.id for row in rows]
    people: dict[uuid.UUID, list[User]] = {cid: [] for cid in ids}
    for conversation_id, user in db.session.execute(
        sa.select(ConversationParticipant.conversation_id, User)
        .join(User, User.id == ConversationParticipant.user_id)
        .where(ConversationParticipant.conversation_id.in_(ids))
        .order_by(ConversationParticipant.joined_at, User.username)
    ):
        people[conversation_id].append(user)
    last_ids = [row.last_id for row in rows if row.last_id is not None]
    last_messages = (
        {
            message.id: message
            for message in db.session.scalars(sa.select(Message).where(Message.id.in_(last_ids)))
        }
        if last_ids
        else {}
    )
    return [
        ConversationView(
            id=row.Conversation.id,
            participants=people[row.Conversation.id],
            created_at=row.Conversation.created_at,
            updated_at=max(row.Conversation.updated_at, _aware(row.last_activity)),
            last_message=last_messages.get(row.last_id) if row.last_id else None,
            unread_count=int(row.unread),
            archived=row.archived_at is not None,
            muted=bool(row.muted),
            expiration_hours=row.Conversation.expiration_hours,
            expiration_set_by=row.Conversation.expiration_set_by,
            expiration_set_at=row.Conversation.expiration_set_at,
        )
        for row in rows
    ]
