"""Request and response schemas (pydantic): they validate input and describe the API."""

import unicodedata
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

from app.services.passwords import is_common_password


def _clean_text(value: str) -> str:
    """Refuse NUL bytes and lone surrogates, which no database stores faithfully."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _not_common(password: str) -> str:
    if is_common_password(password):
        raise ValueError("is too common (one of the most used passwords); choose another")
    return password


# Invisible letters and marks outside the format category, used for names that look empty
# or like someone else's: combining grapheme joiner, Hangul and Khmer fillers.
_INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")
_ZWJ = "\u200d"


def _in_emoji_sequence(value: str, index: int) -> bool:
    """Whether the zero-width joiner at `index` joins two emoji (👩‍💻), where it is visible."""
    if not 0 < index < len(value) - 1:
        return False
    before, after = value[index - 1], value[index + 1]
    return (unicodedata.category(before) in ("So", "Sk") or before == "\ufe0f") and (
        unicodedata.category(after) == "So"
    )


def _nothing_hidden(value: str) -> str:
    """Refuse control, format (bidirectional controls, zero-width) and invisible characters;
    a zero-width joiner only inside an emoji sequence."""
    for index, char in enumerate(value):
        hidden = unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") or char in _INVISIBLE
        if hidden and not (char == _ZWJ and _in_emoji_sequence(value, index)):
            raise ValueError(
                f"must not contain control, direction-changing or invisible characters (U+{ord(char):04X})"
            )
    return value


def text(**limits: Any) -> Any:
    """A string field: length and pattern `limits` first (their messages speak of
    characters), then _clean_text."""
    return Annotated[StrictStr, StringConstraints(**limits), AfterValidator(_clean_text)]


Text = text()
Username = text(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
LoginName = text(min_length=1, max_length=64)  # checked loosely: any mismatch is a failed login
LoginPassword = text(min_length=1, max_length=128)
Password = Annotated[text(min_length=8, max_length=128), AfterValidator(_not_common)]
DisplayName = Annotated[text(min_length=1, max_length=64), AfterValidator(_nothing_hidden)]
ClientMessageId = text(min_length=1, max_length=64)
NonNegativeInt = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
PositiveInt = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]


class RequestModel(BaseModel):
    """A request body or query: camelCase names, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="forbid")


class ResponseModel(BaseModel):
    """A response body, read from attributes and written in camelCase."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


# -- requests ---------------------------------------------------------------------------


class RegisterRequest(RequestModel):
    username: Username
    password: Password
    display_name: DisplayName | None = None


class LoginRequest(RequestModel):
    username: LoginName
    password: LoginPassword


class ProfileUpdateRequest(RequestModel):
    display_name: DisplayName


class PasswordChangeRequest(RequestModel):
    current_password: LoginPassword
    new_password: Password


class UserSearchQuery(RequestModel):
    q: text(max_length=32) = ""
    limit: Annotated[int, Field(ge=1, le=50)] = 20


def _optional_not_null() -> Any:
    """A field that may be left out but, when present, is not null (its schema shows
    no default: the absence of the field is what leaves a setting unchanged)."""
    return Field(None, json_schema_extra=lambda schema: schema.pop("default", None))


class ConversationsQuery(RequestModel):
    archived: bool = False


class UpdateConversationRequest(RequestModel):
    """Only the fields present change; `expirationHours: null` turns the chat's timer off."""

    archived: StrictBool = _optional_not_null()
    muted: StrictBool = _optional_not_null()
    expiration_hours: PositiveInt | None = None


class CreateConversationRequest(RequestModel):
    receiver_id: uuid.UUID
    points_cost: NonNegativeInt | None = None


class MessagesQuery(RequestModel):
    conversation_id: uuid.UUID
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    before: uuid.UUID | None = None
    after: uuid.UUID | None = None
    around: uuid.UUID | None = None


def _no_repeats(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(ids)) != len(ids):
        raise ValueError("must not name the same attachment twice")
    return ids


AttachmentIds = Annotated[list[uuid.UUID], Field(max_length=10), AfterValidator(_no_repeats)]


class SendMessageRequest(RequestModel):
    conversation_id: uuid.UUID
    content: Text = Field(description="May be empty when attachmentIds are given")
    expiration_hours: PositiveInt | None = None
    client_message_id: ClientMessageId | None = None
    max_cost: NonNegativeInt | None = None
    attachment_ids: AttachmentIds = Field(
        default_factory=list,
        description="At most 10 of the sender's own uploads (POST /api/attachments) not sent yet",
    )


class ReadMessagesRequest(RequestModel):
    conversation_id: uuid.UUID
    message_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=500)] | None = None


class SearchQuery(RequestModel):
    # Checked by the search service (400 invalid_query), which trims it first.
    q: StrictStr = Field(
        description="2-200 characters after trimming. Every word must match (case and accents "
        'ignored), the last one also as a prefix; "a quoted phrase" matches as a phrase.'
    )
    conversation_id: uuid.UUID | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 20
    before: uuid.UUID | None = Field(None, description="The last result of the previous page")


def _b64url_bytes(size: int, what: str) -> Any:
    def check(value: str) -> str:
        from app.push.keys import b64url_decode

        try:
            raw = b64url_decode(value)
        except ValueError:
            raise ValueError(f"must be base64url ({what})") from None
        if len(raw) != size:
            raise ValueError(f"must be {size} bytes ({what}), not {len(raw)}")
        return value

    return check


def _p256_point(value: str) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    from app.push.keys import b64url_decode

    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(value))
    except ValueError:
        raise ValueError("is not a point on the P-256 curve") from None
    return value


PushEndpoint = text(min_length=1, max_length=2048)
P256dhKey = Annotated[
    text(max_length=100),
    AfterValidator(_b64url_bytes(65, "an uncompressed P-256 public key")),
    AfterValidator(_p256_point),
]
AuthSecret = Annotated[text(max_length=50), AfterValidator(_b64url_bytes(16, "the auth secret"))]


class PushKeys(RequestModel):
    p256dh: P256dhKey = Field(alias="p256dh")
    auth: AuthSecret


class PushSubscribeRequest(RequestModel):
    """What the browser's PushSubscription.toJSON() gives."""

    endpoint: PushEndpoint = Field(description="The push service URL (https in production)")
    expiration_time: float | None = Field(None, description="Ignored (browsers send null or a time in ms)")
    keys: PushKeys


class PushUnsubscribeRequest(RequestModel):
    endpoint: PushEndpoint


# -- responses --------------------------------------------------------------------------


class UserOut(ResponseModel):
    id: uuid.UUID
    username: str
    display_name: str


class UserEnvelope(ResponseModel):
    user: UserOut


class UserList(ResponseModel):
    users: list[UserOut]


class LoginOut(ResponseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_at: datetime
    user: UserOut
    expired_messages: int


class AttachmentOut(ResponseModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int = Field(description="Bytes, as stored (an image after its metadata was removed)")
    width: int | None = Field(description="Images: pixels")
    height: int | None
    has_thumbnail: bool = Field(description="GET /api/attachments/{id}/thumbnail (images, at most 320 px)")


class AttachmentEnvelope(ResponseModel):
    attachment: AttachmentOut


class MessageOut(ResponseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int  # position in the conversation, in commit order (1, 2, 3, ...)
    sender_id: uuid.UUID
    content: str
    created_at: datetime
    expires_at: datetime | None
    delivered_at: datetime | None
    is_read: bool
    read_at: datetime | None
    client_message_id: str | None
    attachments: list[AttachmentOut]


class MessagePage(ResponseModel):
    messages: list[MessageOut]
    has_more: bool = Field(description="Older messages exist (newer ones, with after)")
    has_more_before: bool | None = Field(None, description="With around: older messages exist")
    has_more_after: bool | None = Field(None, description="With around: newer messages exist")


class Segment(ResponseModel):
    text: str
    match: bool


class SearchResult(ResponseModel):
    message: MessageOut
    segments: list[Segment] = Field(
        description="The content in pieces that join to it exactly; match marks the words that matched"
    )


class SearchPage(ResponseModel):
    results: list[SearchResult]
    has_more: bool = Field(description="Older results exist: ask again with before=<the last one's id>")


class ConversationOut(ResponseModel):
    id: uuid.UUID
    participants: list[UserOut]
    created_at: datetime
    updated_at: datetime
    last_message: MessageOut | None
    unread_count: int
    archived: bool = Field(description="The caller's own: hidden from the main list")
    muted: bool = Field(description="The caller's own: stays archived, no push")
    expiration_hours: int | None = Field(
        description="The chat's disappearing-messages timer, shared by both participants"
    )
    expiration_set_by: uuid.UUID | None = Field(description="Who last set the chat's timer")
    expiration_set_at: datetime | None


class ConversationEnvelope(ResponseModel):
    conversation: ConversationOut
    points_charged: int


class ConversationOne(ResponseModel):
    conversation: ConversationOut


class ConversationList(ResponseModel):
    conversations: list[ConversationOut]
    archived_count: int = Field(description="How many of the caller's conversations are archived")
    archived_unread_count: int = Field(
        description="Unread messages in the caller's archived conversations, all together"
    )


class QuotaOut(ResponseModel):
    daily_free_limit: int
    messages_sent_today: int
    free_remaining: int
    points_per_message: int
    points_balance: int
    quota_date: date
    resets_at: datetime
    next_message_cost: int


class ChargedOut(ResponseModel):
    free: bool
    points: int


class SendOut(ResponseModel):
    message: MessageOut
    charged: ChargedOut
    quota: QuotaOut


class ReadOut(ResponseModel):
    updated: int
    read_at: datetime | None
    message_ids: list[uuid.UUID]


class OkOut(ResponseModel):
    ok: bool = True


class HealthOut(ResponseModel):
    status: str


class ErrorBody(ResponseModel):
    code: str
    message: str


class ErrorOut(ResponseModel):
    error: ErrorBody


def dump(model: type[BaseModel], value: object) -> dict:
    """Serialise a service result through its response schema into JSON-ready camelCase."""
    return model.model_validate(value, from_attributes=True).model_dump(mode="json", by_alias=True)


class PushKeyOut(ResponseModel):
    public_key: str = Field(description="The VAPID application server key (base64url)")


class PushSubscriptionOut(ResponseModel):
    id: uuid.UUID
