"""Payloads that clients send over Socket.IO."""

import uuid
from typing import Annotated

from pydantic import Field, StrictBool

from app.schemas import RequestModel


class ConversationPayload(RequestModel):
    conversation_id: uuid.UUID


class TypingPayload(RequestModel):
    conversation_id: uuid.UUID
    is_typing: StrictBool


class AckPayload(RequestModel):
    message_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=500)]
