"""JWT access tokens: issuing, revoking, and the callbacks that answer 401 in our shape."""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, g
from flask_jwt_extended import create_access_token, decode_token
from flask_jwt_extended.exceptions import JWTDecodeError
from jwt.exceptions import ExpiredSignatureError, PyJWTError

from app import clock
from app.api.errors import error_response
from app.database import read_connection, write_transaction
from app.errors import InvalidToken, TokenExpired, TokenRevoked, Unauthorized
from app.extensions import db, jwt
from app.models import RevokedToken, User
from app.models.types import UTCDateTime

REQUIRED_CLAIMS = ("exp", "jti", "sub")
# What flask-jwt-extended issues (a UUID), within the revoked_tokens.jti column.
TOKEN_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


# The moment a token was issued, to the microsecond (`iat` has whole seconds): a password
# change revokes the tokens issued before it, not one issued in the same second after it.
ISSUED_CLAIM = "issuedAt"


def issue_access_token(user: User) -> tuple[str, datetime]:
    """A signed access token for the user and the moment it expires."""
    token = create_access_token(
        identity=str(user.id), additional_claims={ISSUED_CLAIM: clock.now().timestamp()}
    )
    expires_at = datetime.fromtimestamp(decode_token(token)["exp"], UTC)
    return token, expires_at


def revoke_token(jti: str, user_id: uuid.UUID, expires_at: datetime) -> None:
    """Revoke a token at once (one transaction); forget revocations of tokens that
    have expired anyway."""
    now = clock.now()
    with write_transaction():
        db.session.execute(sa.delete(RevokedToken).where(RevokedToken.expires_at < now))
        if db.session.get(RevokedToken, jti) is None:
            db.session.add(RevokedToken(jti=jti, user_id=user_id, expires_at=expires_at, revoked_at=now))


def is_revoked(jti: str) -> bool:
    """Whether the token with this id was revoked."""
    return db.session.get(RevokedToken, jti) is not None


@dataclass(frozen=True)
class TokenAccount:
    """The account a valid token belongs to: what requests read of `current_user`."""

    id: uuid.UUID
    username: str
    display_name: str


_users, _revoked = User.__table__.c, RevokedToken.__table__.c
_changes = RevokedToken.__table__.alias("password_changes")
# A password change after this token was issued, made with another token (accounts.KEEP_PREFIX).
_CHANGED_SINCE = (
    sa.select(sa.literal(1))
    .where(
        _changes.c.user_id == _users.id,
        _changes.c.jti.like("keep:%"),
        _changes.c.revoked_at > sa.bindparam("issued", type_=UTCDateTime()),
        _changes.c.jti != sa.bindparam("keep_jti", type_=sa.String),
    )
    .exists()
)
# Built once: the statement's cache key is computed on the first request only.
_TOKEN_ACCOUNT = (
    sa.select(_users.id, _users.username, _users.display_name, _revoked.jti, _CHANGED_SINCE.label("changed"))
    .select_from(User.__table__)
    .outerjoin(RevokedToken.__table__, _revoked.jti == sa.bindparam("jti", type_=sa.String))
    .where(_users.id == sa.bindparam("user_id", type_=sa.Uuid))
)


def issued_at(payload: dict) -> datetime:
    """When the token was issued: its precise claim, else its `iat` (tokens issued before it)."""
    value = payload.get(ISSUED_CLAIM, payload.get("iat", 0))
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(0, UTC)


def require_claims(claims: dict[str, Any]) -> None:
    """Refuse (JWTDecodeError) a decoded token without the claims every token we issue
    has: `exp` (else it never expires), `jti` (else it cannot be revoked) and `sub`.

    PyJWT checks that claims are present only when told to (its `require` option), and
    flask-jwt-extended has no setting that passes it on, so the token callbacks and
    `verify_token` call this before any query.
    """
    for name in REQUIRED_CLAIMS:
        if claims.get(name) is None:
            raise JWTDecodeError(f"Missing claim: {name}")
    if not isinstance(claims["jti"], str) or not TOKEN_ID.fullmatch(claims["jti"]):
        raise JWTDecodeError("Invalid claim: jti")


def load_token_user(payload: dict) -> tuple[TokenAccount | None, bool]:
    """The token's account and whether the token was revoked, in one query (its claims
    passed `require_claims`)."""
    try:
        user_id = uuid.UUID(str(payload["sub"]))
    except (ValueError, KeyError, TypeError):
        return None, False
    params = {
        "user_id": user_id,
        "jti": payload["jti"],
        "issued": issued_at(payload),
        "keep_jti": "keep:" + payload["jti"],
    }
    with read_connection() as connection:
        row = connection.execute(_TOKEN_ACCOUNT, params).first()
    if row is None:
        return None, False
    return TokenAccount(row.id, row.username, row.display_name), row.jti is not None or bool(row.changed)


def verify_token(token: str) -> tuple[dict[str, Any], TokenAccount]:
    """The claims and account of an access token met outside `jwt_required` (a socket's
    auth, the page's cookie at logout): its signature, algorithm, expiry, type and
    required claims, then its account and revocation in one query.

    Raises InvalidToken, TokenExpired or TokenRevoked.
    """
    try:
        claims = decode_token(token)
        require_claims(claims)
    except ExpiredSignatureError:
        raise TokenExpired() from None
    except (PyJWTError, JWTDecodeError, ValueError, KeyError) as error:
        raise InvalidToken(f"The access token is invalid: {error}.") from None
    if claims.get("type") != "access":
        raise InvalidToken("Only an access token is accepted here.")
    account, revoked = load_token_user(claims)
    if revoked:
        raise TokenRevoked()
    if account is None:
        raise InvalidToken("The account of this token no longer exists.")
    return claims, account


def _unauthorized(message: str) -> Any:
    return error_response(Unauthorized(message))


def register_token_callbacks(app: Flask) -> None:
    """Wire flask-jwt-extended to our users, our revocations and our error shape."""
    app.config["JWT_SECRET_KEY"] = app.config["JWT_SECRET"]
    app.config["JWT_ALGORITHM"] = "HS256"
    app.config["JWT_DECODE_ALGORITHMS"] = ["HS256"]

    @jwt.token_in_blocklist_loader
    def _revoked(_header: dict, payload: dict) -> bool:
        require_claims(payload)  # the first callback after decoding: before the query
        user, revoked = load_token_user(payload)
        g.token_user = user
        return revoked

    @jwt.user_lookup_loader
    def _load_user(_header: dict, payload: dict) -> TokenAccount | None:
        if "token_user" in g:  # loaded with the revocation check, in the same query
            return g.pop("token_user")
        return load_token_user(payload)[0]

    jwt.user_lookup_error_loader(lambda _h, _p: _unauthorized("The account of this token no longer exists."))
    jwt.unauthorized_loader(lambda reason: _unauthorized(f"A valid access token is required ({reason})."))
    jwt.invalid_token_loader(lambda reason: _unauthorized(f"The access token is invalid: {reason}."))
    jwt.expired_token_loader(lambda _h, _p: _unauthorized("The access token has expired; log in again."))
    jwt.revoked_token_loader(lambda _h, _p: _unauthorized("The access token was revoked; log in again."))
    jwt.needs_fresh_token_loader(lambda _h, _p: _unauthorized("A fresh login is required."))
