"""Conversations: start one, list mine."""

from typing import Any

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required

from app.api.spec import endpoint
from app.realtime.notify import publish
from app.schemas import ConversationEnvelope, ConversationList, CreateConversationRequest
from app.services import conversations
from app.settings import business_settings

bp = Blueprint("conversations", __name__, url_prefix="/api/conversations")


@bp.post("/create")
@jwt_required()
@endpoint(
    "Start a 1:1 conversation (idempotent per pair)",
    body=CreateConversationRequest,
    response=ConversationEnvelope,
    status=201,
    errors=(402, 404, 409),
    also=((200, "The pair already has a conversation: that one, with pointsCharged 0"),),
)
def create(body: CreateConversationRequest) -> Any:
    """Start a conversation with another user, or return the one the pair already has."""
    price = business_settings().conversation_points_cost
    result = conversations.start_conversation(current_user.id, body.receiver_id, body.points_cost, price)
    publish(result.events)
    return result, 201 if result.created else 200


@bp.get("")
@jwt_required()
@endpoint("My conversations, latest activity first", response=ConversationList)
def list_mine() -> Any:
    """The caller's conversations with their last message and unread count."""
    return {"conversations": conversations.list_conversations(current_user.id)}
