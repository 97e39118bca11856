"""What a message's push says, and for how long a push service may hold it."""

import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from app.push.client import Push

# A disappearing message's push is dropped by the push service this long before the
# message expires, so it never arrives for a message already gone.
EXPIRY_MARGIN_SECONDS = 60
CONTENT_PREVIEW_CHARACTERS = 200


@dataclass(frozen=True)
class MessageNotice:
    """The facts of a committed message that its push may tell."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    sender_name: str
    content: str
    expires_at: datetime | None


def time_to_live(expires_at: datetime | None, now: datetime, default_ttl: int) -> int:
    """Seconds the push service may keep the push: `default_ttl`, and for a disappearing
    message less than is left of it (0 when too little is left: deliver now or never)."""
    if expires_at is None:
        return default_ttl
    left = (expires_at - now).total_seconds() - EXPIRY_MARGIN_SECONDS
    return max(0, min(default_ttl, math.floor(left)))


def payload(notice: MessageNotice, include_content: bool) -> bytes:
    """The JSON the service worker receives: ids and the sender's name; a preview of the text
    only when the operator allows it and never for a message that expires."""
    body = {
        "type": "message",
        "conversationId": str(notice.conversation_id),
        "messageId": str(notice.message_id),
        "senderName": notice.sender_name,
    }
    if include_content and notice.expires_at is None and notice.content.strip():
        preview = notice.content[:CONTENT_PREVIEW_CHARACTERS]
        body["content"] = preview + ("…" if len(notice.content) > CONTENT_PREVIEW_CHARACTERS else "")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def topic(conversation_id: uuid.UUID) -> str:
    """The Topic header: one pending push per conversation at the push service (32
    characters of the base64url alphabet, as RFC 8030 allows)."""
    return conversation_id.hex


def push_for(notice: MessageNotice, now: datetime, *, default_ttl: int, include_content: bool) -> Push:
    """The push of a message."""
    return Push(
        payload(notice, include_content),
        time_to_live(notice.expires_at, now, default_ttl),
        topic(notice.conversation_id),
    )
