"""The models, imported here so that Alembic and the app see every table."""

from app.models.conversation import Conversation, ConversationParticipant, pair_key
from app.models.message import Message
from app.models.user import RevokedToken, User
from app.models.wallet import MessageQuota, PointsTransaction, PointsWallet

__all__ = [
    "Conversation",
    "ConversationParticipant",
    "Message",
    "MessageQuota",
    "PointsTransaction",
    "PointsWallet",
    "RevokedToken",
    "User",
    "pair_key",
]
