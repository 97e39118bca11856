"""The models, imported here so that Alembic and the app see every table."""

from app.models.attachment import Attachment
from app.models.conversation import Conversation, ConversationParticipant, pair_key
from app.models.message import Message
from app.models.push_subscription import PushSubscription
from app.models.search_index import messages_fts  # the full-text index's DDL and table
from app.models.user import RevokedToken, User
from app.models.wallet import MessageQuota, PointsTransaction, PointsWallet

__all__ = [
    "Attachment",
    "Conversation",
    "ConversationParticipant",
    "Message",
    "MessageQuota",
    "PointsTransaction",
    "PointsWallet",
    "PushSubscription",
    "RevokedToken",
    "User",
    "messages_fts",
    "pair_key",
]
