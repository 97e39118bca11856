"""Typed access to the settings of the running app that services take as arguments."""

from dataclasses import dataclass

from flask import current_app


@dataclass(frozen=True)
class BusinessSettings:
    """The limits and prices the services apply."""

    daily_free_messages: int
    points_per_message: int
    min_expiration_hours: int
    max_expiration_hours: int
    max_message_length: int
    conversation_points_cost: int
    quota_timezone: str
    initial_points: int


@dataclass(frozen=True)
class HashingCost:
    """argon2id cost, the optional pepper, and how many hashes a process runs at once."""

    pepper: str
    time_cost: int
    memory_kib: int
    concurrency: int


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed in a window ("5 per 15 minutes"), per counter."""

    per_username_address: str
    per_address: str
    per_username: str  # not applied to addresses the user logged in from


def business_settings() -> BusinessSettings:
    """The settings of the current app."""
    config = current_app.config
    return BusinessSettings(
        daily_free_messages=config["DAILY_FREE_MESSAGES"],
        points_per_message=config["POINTS_PER_MESSAGE"],
        min_expiration_hours=config["MIN_EXPIRATION_HOURS"],
        max_expiration_hours=config["MAX_EXPIRATION_HOURS"],
        max_message_length=config["MAX_MESSAGE_LENGTH"],
        conversation_points_cost=config["CONVERSATION_POINTS_COST"],
        quota_timezone=config["QUOTA_TIMEZONE"],
        initial_points=config["INITIAL_POINTS"],
    )


def hashing_cost() -> HashingCost:
    """The password hashing settings of the current app."""
    config = current_app.config
    return HashingCost(
        pepper=config["APP_SALT"],
        time_cost=config["PASSWORD_HASH_TIME_COST"],
        memory_kib=config["PASSWORD_HASH_MEMORY_KIB"],
        concurrency=config["PASSWORD_HASH_CONCURRENCY"],
    )


def login_limits() -> LoginLimits:
    """The failed-login limits of the current app."""
    config = current_app.config
    return LoginLimits(
        per_username_address=config["LOGIN_FAILURE_LIMIT"],
        per_address=config["LOGIN_ADDRESS_FAILURE_LIMIT"],
        per_username=config["LOGIN_USERNAME_FAILURE_LIMIT"],
    )


def registration_limit() -> str | None:
    """Registrations allowed per address in a window; None when rate limits are off."""
    config = current_app.config
    return config["REGISTER_RATE_LIMIT"] if config["RATELIMIT_ENABLED"] else None


@dataclass(frozen=True)
class AttachmentSettings:
    """What an upload may be: its size, its types, and a user's bytes in any 24 hours."""

    max_bytes: int
    types: frozenset[str]
    daily_bytes: int


def attachment_settings() -> AttachmentSettings:
    """The attachment limits of the current app."""
    config = current_app.config
    return AttachmentSettings(
        max_bytes=config["MAX_ATTACHMENT_BYTES"],
        types=frozenset(config["ATTACHMENT_TYPES"].split(",")),
        daily_bytes=config["UPLOAD_DAILY_BYTES"],
    )
