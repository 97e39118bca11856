"""Messages: fetch a page, send, mark read, read the quota."""

from typing import Any

from flask import Blueprint, current_app
from flask_jwt_extended import current_user, get_jwt_identity, jwt_required

from app.api.spec import endpoint
from app.extensions import limiter
from app.push.setup import push_new_message
from app.realtime.notify import publish
from app.schemas import (
    MessagePage,
    MessagesQuery,
    QuotaOut,
    ReadMessagesRequest,
    ReadOut,
    SendMessageRequest,
    SendOut,
)
from app.services import messaging, quota, sending
from app.settings import business_settings

bp = Blueprint("messages", __name__, url_prefix="/api/messages")


def send_rate_limit() -> str:
    """The per-user send limit from the settings."""
    return current_app.config["SEND_RATE_LIMIT"]


def user_rate_key() -> str:
    """Rate-limit sends per user (the token was verified before this runs)."""
    return f"user:{get_jwt_identity()}"


@bp.get("")
@jwt_required()
@endpoint("A page of messages, oldest first", query=MessagesQuery, response=MessagePage, errors=(400, 404))
def fetch(query: MessagesQuery) -> Any:
    """Messages of a conversation around a cursor; expired ones are never returned."""
    page = messaging.fetch_messages(
        current_user.id,
        query.conversation_id,
        limit=query.limit,
        before=query.before,
        after=query.after,
        around=query.around,
    )
    publish(page.events)
    return page


@bp.post("/send")
@jwt_required()
@limiter.limit(send_rate_limit, key_func=user_rate_key)
@endpoint(
    "Send a message (free quota first, then points)",
    body=SendMessageRequest,
    response=SendOut,
    status=201,
    errors=(402, 404, 409, 429),
    also=((200, "A retry with a used clientMessageId: the message first created, nothing charged"),),
)
def send(body: SendMessageRequest) -> Any:
    """Send a message; a retry with the same clientMessageId answers 200 with the first one."""
    draft = sending.MessageDraft(
        conversation_id=body.conversation_id,
        content=body.content,
        expiration_hours=body.expiration_hours,
        client_message_id=body.client_message_id,
        max_cost=body.max_cost,
        chat_timer="expiration_hours" not in body.model_fields_set,
        attachment_ids=tuple(body.attachment_ids),
    )
    result = sending.send_message(current_user.id, draft, business_settings())
    publish(result.events)
    if result.created:
        push_new_message(result.message, current_user, result.recipient_ids)
    payload = {
        "message": result.message,
        "charged": {"free": result.charged_free, "points": result.charged_points},
        "quota": result.quota,
    }
    return payload, 201 if result.created else 200


@bp.post("/read")
@jwt_required()
@endpoint("Mark messages sent to me as read", body=ReadMessagesRequest, response=ReadOut, errors=(404,))
def read(body: ReadMessagesRequest) -> Any:
    """Mark the given (or all) unread messages of others in a conversation as read."""
    result = messaging.mark_read(current_user.id, body.conversation_id, body.message_ids)
    publish(result.events)
    return result


@bp.get("/quota")
@jwt_required()
@endpoint("My free messages left today and my points", response=QuotaOut)
def get_quota() -> Any:
    """The caller's quota; it rolls over by date comparison, never by a timer."""
    return quota.get_quota(current_user.id, business_settings())
