"""Accounts: registration, credentials, lookup and search."""

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import clock
from app.database import read_transaction, write_transaction
from app.errors import InvalidCredentials, UsernameTaken, ValidationFailed, WrongPassword
from app.extensions import db
from app.models import RevokedToken, User
from app.services import points, quota
from app.services.passwords import dummy_hash, hash_password, verify_password
from app.services.throttle import AuthThrottle
from app.settings import BusinessSettings, HashingCost, LoginLimits


def find_by_username(username: str) -> User | None:
    """The user with this username, compared without regard to case."""
    with read_transaction():
        return db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == username.lower()))


def register_user(
    username: str,
    password: str,
    display_name: str | None,
    *,
    hashing: HashingCost,
    settings: BusinessSettings,
) -> User:
    """Create a user with a wallet and a quota row, in one transaction; raises UsernameTaken."""
    password_hash = hash_password(password, hashing)
    try:
        with write_transaction():
            if find_by_username(username) is not None:
                raise UsernameTaken()
            user = User(
                username=username,
                display_name=(display_name or "").strip() or username,
                password_hash=password_hash,
                created_at=clock.now(),
            )
            db.session.add(user)
            db.session.flush()
            points.create_wallet(user.id, settings.initial_points)
            quota.create_quota(user.id, settings)
    except IntegrityError:  # the same name registered at the same moment
        raise UsernameTaken() from None
    return user


def authenticate(username: str, password: str, *, hashing: HashingCost) -> User:
    """The user whose credentials these are; the same InvalidCredentials for any mismatch."""
    user = find_by_username(username)  # the connection goes back to the pool before the slow hash
    if user is None:
        verify_password(dummy_hash(hashing), password, hashing)
        raise InvalidCredentials()
    if not verify_password(user.password_hash, password, hashing):
        raise InvalidCredentials()
    return user


def log_in(
    username: str,
    password: str,
    address: str,
    *,
    throttle: AuthThrottle,
    limits: LoginLimits,
    hashing: HashingCost,
) -> User:
    """Authenticate, the attempt counted against the failed-login limits before the password
    is verified: RateLimited, without verifying it, once a limit is reached."""
    attempt = throttle.begin_login(username, address, limits)
    try:
        user = authenticate(username, password, hashing=hashing)
    except InvalidCredentials:
        attempt.failed()
        raise
    except BaseException:
        attempt.abandoned()
        raise
    attempt.succeeded()
    return user


# A password change is recorded as a row of revoked_tokens named after the token that made
# it: every token of the user issued before `revoked_at` is refused, except that one.
KEEP_PREFIX = "keep:"


def update_display_name(user_id: uuid.UUID, display_name: str) -> User:
    """Rename the user (the API's DisplayName rules were applied to `display_name`)."""
    name = display_name.strip()
    if not name:
        raise ValidationFailed(fields=[{"field": "displayName", "message": "must not be blank"}])
    with write_transaction():
        user = db.session.get(User, user_id)
        if user is None:
            raise InvalidCredentials()
        user.display_name = name
    return user


def change_password(
    user_id: uuid.UUID,
    current_password: str,
    new_password: str,
    *,
    keep_jti: str,
    token_lifetime: timedelta,
    address: str,
    throttle: AuthThrottle,
    limits: LoginLimits,
    hashing: HashingCost,
) -> User:
    """Set a new password once the current one is verified (counted like a login attempt:
    WrongPassword, or RateLimited once the failed-login limits are reached), and revoke
    every token of the user issued before now except `keep_jti`, in one transaction."""
    with read_transaction():
        user = db.session.get(User, user_id)
        if user is None:
            raise InvalidCredentials()
        username, password_hash = user.username, user.password_hash
    attempt = throttle.begin_login(username, address, limits)
    try:
        verified = verify_password(password_hash, current_password, hashing)
    except BaseException:
        attempt.abandoned()
        raise
    if not verified:
        attempt.failed()
        raise WrongPassword()
    attempt.succeeded()
    new_hash = hash_password(new_password, hashing)
    now = clock.now()
    with write_transaction():
        user = db.session.get(User, user_id)
        if user is None:
            raise InvalidCredentials()
        user.password_hash = new_hash
        marker = db.session.get(RevokedToken, KEEP_PREFIX + keep_jti)
        if marker is None:
            marker = RevokedToken(jti=KEEP_PREFIX + keep_jti, user_id=user_id)
            db.session.add(marker)
        # Kept until every token issued before the change has expired anyway.
        marker.revoked_at, marker.expires_at = now, now + token_lifetime
    return user


def get_user(user_id: uuid.UUID) -> User | None:
    """The user with this id, if any."""
    return db.session.get(User, user_id)


def search_users(viewer_id: uuid.UUID, prefix: str, limit: int) -> list[User]:
    """Other users whose username starts with `prefix` (case-insensitive), alphabetically."""
    escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.id != viewer_id, sa.func.lower(User.username).like(escaped + "%", escape="\\"))
            .order_by(sa.func.lower(User.username))
            .limit(limit)
        )
    )
