"""The one error hierarchy: each condition has a code, an HTTP status and data; and which
failures of a dependency mean "unavailable" rather than a bug."""

from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class AppError(Exception):
    """A failure a client can act on; rendered as {"error": {code, message, ...data}}."""

    code = "error"
    status = 400
    message = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **data: Any,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.data = data
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return {"error": {"code": self.code, "message": self.message, **self.data}}


class ValidationFailed(AppError):
    code = "validation_error"
    message = "The request is not valid."


class InvalidJson(AppError):
    code = "invalid_json"
    message = "The body must be a JSON object."


class InvalidCursor(AppError):
    code = "invalid_cursor"
    message = "The cursor is not a message of this conversation."


class InvalidQuery(AppError):
    code = "invalid_query"
    message = "The search query is not valid."


class InvalidAttachment(AppError):
    code = "invalid_attachment"
    message = "The file is damaged or not what its first bytes say it is."


class CannotMessageSelf(AppError):
    code = "cannot_message_self"
    message = "You cannot start a conversation with yourself."


class Unauthorized(AppError):
    code = "unauthorized"
    status = 401
    message = "A valid access token is required."


class InvalidToken(Unauthorized):
    code = "invalid_token"
    message = "The access token is invalid."


class TokenExpired(Unauthorized):
    code = "token_expired"
    message = "The access token has expired; log in again."


class TokenRevoked(Unauthorized):
    code = "token_revoked"
    message = "The access token was revoked; log in again."


class InvalidCredentials(AppError):
    code = "invalid_credentials"
    status = 401
    message = "The username or password is wrong."


class WrongPassword(AppError):
    """A password change whose current password is wrong (403, not 401: the session is fine)."""

    code = "wrong_password"
    status = 403
    message = "The current password is not correct."


class InsufficientPoints(AppError):
    code = "insufficient_points"
    status = 402
    message = "Your free messages for today are used up and you do not have enough points."


class NotFound(AppError):
    code = "not_found"
    status = 404
    message = "Not found."


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "No such user."


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    message = "No such conversation."


class AttachmentNotFound(NotFound):
    code = "attachment_not_found"
    message = "No such attachment."


class PushDisabled(NotFound):
    code = "push_disabled"
    message = "Push notifications are turned off on this server."


class AttachmentTooLarge(AppError):
    code = "attachment_too_large"
    status = 413
    message = "The file is too large."


class UnsupportedAttachmentType(AppError):
    code = "unsupported_attachment_type"
    status = 415
    message = "This type of file cannot be attached."


class Conflict(AppError):
    code = "conflict"
    status = 409
    message = "The request conflicts with the current state."


class UsernameTaken(Conflict):
    code = "username_taken"
    message = "That username is taken."


class PriceMismatch(Conflict):
    code = "price_mismatch"
    message = "The price of starting a conversation has changed."


class CostExceedsMax(Conflict):
    code = "cost_exceeds_max"
    message = "This message costs more than the maximum you agreed to."


class ClientMessageIdReused(Conflict):
    code = "client_message_id_reused"
    message = "This clientMessageId was already used for a different message."


class RateLimited(AppError):
    code = "rate_limited"
    status = 429
    message = "Too many requests; try again later."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(message, headers={"Retry-After": str(retry_after)}, retryAfter=retry_after)


class ServiceUnavailable(AppError):
    code = "service_unavailable"
    status = 503
    message = "The service is temporarily unavailable; try again shortly."

    def __init__(self, message: str | None = None, retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


# A database or Redis that cannot be reached: 503, never 500 (REST and socket handlers alike).
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    RedisConnectionError,
    RedisTimeoutError,
)


def describe_unavailable(error: BaseException) -> str:
    """The driver's error behind an unavailable dependency, for one log line (no traceback)."""
    cause = getattr(error, "orig", None) or error
    return f"{cause.__class__.__name__}: {str(cause).strip()[:300]}"


def is_unavailable(error: BaseException) -> bool:
    """Whether the error means a dependency is unreachable (not a bug)."""
    if isinstance(error, UNAVAILABLE_ERRORS):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)
