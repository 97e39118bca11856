"""Conversations: start one, list mine, change my settings of one."""

import uuid
from typing import Any

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required

from app.api.spec import endpoint
from app.realtime.notify import publish
from app.schemas import (
    ConversationEnvelope,
    ConversationList,
    ConversationOne,
    ConversationsQuery,
    CreateConversationRequest,
    UpdateConversationRequest,
)
from app.services import conversation_settings, conversations
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
@endpoint(
    "My conversations (archived=true: the archived ones), latest activity first",
    query=ConversationsQuery,
    response=ConversationList,
)
def list_mine(query: ConversationsQuery) -> Any:
    """The caller's conversations with their last message and unread count."""
    return conversations.list_conversations(current_user.id, archived=query.archived)


@bp.patch("/<uuid:conversation_id>")
@jwt_required()
@endpoint(
    "Archive, mute (mine) or set the chat's disappearing timer (shared)",
    body=UpdateConversationRequest,
    response=ConversationOne,
    errors=(404,),
)
def update(body: UpdateConversationRequest, conversation_id: uuid.UUID) -> Any:
    """Change the fields present; `expirationHours: null` turns the chat's timer off."""
    change = conversation_settings.SettingsChange(
        archived=body.archived,
        muted=body.muted,
        sets_timer="expiration_hours" in body.model_fields_set,
        expiration_hours=body.expiration_hours,
    )
    result = conversation_settings.update_settings(
        conversation_id, current_user.id, change, business_settings()
    )
    publish(result.events)
    return {"conversation": result.conversation}
