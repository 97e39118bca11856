"""Web Push subscriptions: stored per user and tied to the login session that made them."""

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app import clock
from app.database import single_statement, write_transaction
from app.errors import ValidationFailed
from app.extensions import db
from app.models import ConversationParticipant, PushSubscription, RevokedToken
from app.models.types import UTCDateTime, new_id
from app.push.endpoints import endpoint_problem


@dataclass(frozen=True)
class Session:
    """The login session (access token) a subscription is made with."""

    token_id: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class PushTarget:
    """A subscription a message's push goes to."""

    id: uuid.UUID
    user_id: uuid.UUID
    endpoint: str
    p256dh: str
    auth: str


def subscribe(
    user_id: uuid.UUID,
    session: Session,
    endpoint: str,
    p256dh: str,
    auth: str,
    *,
    allow_local: bool,
    max_per_user: int,
) -> tuple[uuid.UUID, bool]:
    """Store (or refresh) this browser's subscription for the user; its id and whether it
    is new for the user. An endpoint another user had moves to this one (the browser is
    now theirs); beyond `max_per_user`, the user's oldest subscriptions are dropped."""
    problem = endpoint_problem(endpoint, allow_local)
    if problem:
        raise ValidationFailed(fields=[{"field": "endpoint", "message": problem}])
    values = {
        "user_id": user_id,
        "p256dh": p256dh,
        "auth": auth,
        "token_id": session.token_id,
        "token_issued_at": session.issued_at,
        "session_expires_at": session.expires_at,
    }
    try:
        return _store(endpoint, values, max_per_user)
    except sa.exc.IntegrityError:  # PostgreSQL: the same endpoint was stored meanwhile
        db.session.rollback()
        return _store(endpoint, values, max_per_user)


def _store(endpoint: str, values: dict, max_per_user: int) -> tuple[uuid.UUID, bool]:
    with write_transaction():
        existing = db.session.scalar(
            sa.select(PushSubscription).where(PushSubscription.endpoint == endpoint).with_for_update()
        )
        if existing is None:
            existing = PushSubscription(id=new_id(), endpoint=endpoint, created_at=clock.now(), **values)
            db.session.add(existing)
            created = True
        else:
            created = existing.user_id != values["user_id"]
            for name, value in values.items():
                setattr(existing, name, value)
            if created:
                existing.created_at = clock.now()
        db.session.flush()
        _keep_newest(values["user_id"], max_per_user)
        return existing.id, created


def _keep_newest(user_id: uuid.UUID, count: int) -> None:
    newest = (
        sa.select(PushSubscription.id)
        .where(PushSubscription.user_id == user_id)
        .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
        .limit(count)
    )
    db.session.execute(
        sa.delete(PushSubscription).where(
            PushSubscription.user_id == user_id, PushSubscription.id.not_in(newest.scalar_subquery())
        )
    )


def unsubscribe(user_id: uuid.UUID, endpoint: str) -> None:
    """Forget the user's subscription at this endpoint (nothing happens when there is none)."""
    with single_statement() as connection:
        connection.execute(
            sa.delete(PushSubscription).where(
                PushSubscription.user_id == user_id, PushSubscription.endpoint == endpoint
            )
        )


def end_session(token_id: str) -> None:
    """Forget the subscriptions made with a token that was logged out."""
    with single_statement() as connection:
        connection.execute(sa.delete(PushSubscription).where(PushSubscription.token_id == token_id))


def forget(subscription_id: uuid.UUID, endpoint: str) -> None:
    """Forget a subscription the push service says is gone (unless the row was reused since)."""
    with single_statement() as connection:
        connection.execute(
            sa.delete(PushSubscription).where(
                PushSubscription.id == subscription_id, PushSubscription.endpoint == endpoint
            )
        )


_subscriptions, _participants = PushSubscription.__table__.c, ConversationParticipant.__table__.c
_revoked = RevokedToken.__table__.alias("revoked")
_changes = RevokedToken.__table__.alias("password_changes")
# The session is valid: not expired, not logged out, and no password change since it was
# issued made with another token (the rule of app.auth.tokens, for each subscription).
_SESSION_VALID = sa.and_(
    _subscriptions.session_expires_at > sa.bindparam("now", type_=UTCDateTime()),
    ~sa.select(sa.literal(1)).where(_revoked.c.jti == _subscriptions.token_id).exists(),
    ~sa.select(sa.literal(1))
    .where(
        _changes.c.user_id == _subscriptions.user_id,
        _changes.c.jti.like("keep:%"),
        _changes.c.revoked_at > _subscriptions.token_issued_at,
        _changes.c.jti != sa.literal("keep:") + _subscriptions.token_id,
    )
    .exists(),
)
# Built once: the statement's cache key is computed on the first push only.
_TARGETS = (
    sa.select(
        _subscriptions.id,
        _subscriptions.user_id,
        _subscriptions.endpoint,
        _subscriptions.p256dh,
        _subscriptions.auth,
    )
    .select_from(PushSubscription.__table__)
    .join(ConversationParticipant.__table__, _participants.user_id == _subscriptions.user_id)
    .where(
        _participants.conversation_id == sa.bindparam("conversation_id", type_=sa.Uuid),
        _participants.user_id.in_(sa.bindparam("user_ids", expanding=True, type_=sa.Uuid)),
        _participants.muted == sa.false(),
        _SESSION_VALID,
    )
    .order_by(_subscriptions.user_id, _subscriptions.created_at)
)


def targets(
    connection: sa.Connection, conversation_id: uuid.UUID, user_ids: list[uuid.UUID], now: datetime
) -> list[PushTarget]:
    """The subscriptions of these participants of the conversation that get its pushes:
    not muted there, subscribed in a session that is still valid (one read on `connection`)."""
    if not user_ids:
        return []
    params = {"conversation_id": conversation_id, "user_ids": user_ids, "now": now}
    rows = connection.execute(_TARGETS, params).all()
    return [PushTarget(row.id, row.user_id, row.endpoint, row.p256dh, row.auth) for row in rows]
