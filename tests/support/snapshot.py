"""A snapshot of every row a request could write, to prove a refused request changed nothing."""

from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models import Conversation, Message, MessageQuota, PointsTransaction, PointsWallet, User


def db_state() -> dict[str, Any]:
    """Everything a request could write, read with fresh column queries."""
    db.session.rollback()
    state = {
        "users": sorted(db.session.execute(sa.select(User.id, User.username, User.display_name)).all()),
        "messages": sorted(
            db.session.execute(
                sa.select(
                    Message.id,
                    Message.content,
                    Message.is_read,
                    Message.read_at,
                    Message.delivered_at,
                    Message.updated_at,
                )
            ).all()
        ),
        "quotas": sorted(
            db.session.execute(
                sa.select(MessageQuota.user_id, MessageQuota.messages_sent_today, MessageQuota.quota_date)
            ).all()
        ),
        "wallets": sorted(db.session.execute(sa.select(PointsWallet.user_id, PointsWallet.balance)).all()),
        "ledger": sorted(db.session.execute(sa.select(PointsTransaction.id, PointsTransaction.amount)).all()),
        "conversations": sorted(
            db.session.execute(sa.select(Conversation.id, Conversation.updated_at)).all()
        ),
    }
    db.session.rollback()
    return state
