"""Settings: each declared once in `Settings` with its type and default, read from the
environment and checked at start (see the README's configuration table)."""

import os
import secrets
import string
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse
from pydantic import AfterValidator, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

# Read by the servers that load the app (not by this module).
SERVER_SETTINGS = ("INSTANCE_PATH", "FLASK_APP", "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY")


def _known_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"{name!r} is not a known IANA time zone") from None
    return name


def _rate_limit(text: str) -> str:
    try:
        parse(text)
    except ValueError:
        raise ValueError(f"must be a rate limit like '5 per 15 minutes', not {text!r}") from None
    return text


# The attachment types an operator may allow (ATTACHMENT_TYPES), decided from the bytes.
ATTACHMENT_TYPE_NAMES = ("png", "jpeg", "gif", "webp", "pdf", "text", "zip")


def _attachment_types(text: str) -> str:
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(ATTACHMENT_TYPE_NAMES))
    if unknown or not names:
        raise ValueError(
            f"must be a comma-separated list of {', '.join(ATTACHMENT_TYPE_NAMES)}, not {text!r}"
        )
    return ",".join(dict.fromkeys(names))


def _vapid_subject(text: str) -> str:
    if not text.startswith(("mailto:", "https://")) or len(text) < 10:
        raise ValueError(f"must be a mailto: address or an https:// URL to reach the operator, not {text!r}")
    return text


Count = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]
TimeZone = Annotated[str, AfterValidator(_known_time_zone)]
RateLimit = Annotated[str, AfterValidator(_rate_limit)]
AttachmentTypes = Annotated[str, AfterValidator(_attachment_types)]
VapidSubject = Annotated[str, AfterValidator(_vapid_subject)]


class Settings(BaseSettings):
    """Every environment variable that changes what the app does, with its type and default.

    An empty variable counts as unset.
    """

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, validate_default=True)

    APP_ENV: Literal["development", "testing", "production"] = "development"
    DATABASE_URL: str | None = None  # unset: SQLite under the instance folder
    DB_POOL_SIZE: Positive = 20
    DB_MAX_OVERFLOW: Count = 0
    DB_POOL_TIMEOUT: Positive = 10
    # Ping a pooled connection before use once it sat idle this long (0: before every use).
    DB_PING_IDLE_SECONDS: Count = 1

    JWT_SECRET: str | None = None  # unset: a development key kept under the instance folder
    JWT_ACCESS_TOKEN_EXPIRES: Annotated[int, Field(ge=60)] = 86400
    JWT_COOKIE_SECURE: bool | None = None  # unset: on in production only
    APP_SALT: str = ""
    PASSWORD_HASH_TIME_COST: Positive = 3
    PASSWORD_HASH_MEMORY_KIB: Annotated[int, Field(ge=8)] = 65536
    # argon2id hashes one process runs at once (each holds PASSWORD_HASH_MEMORY_KIB);
    # more wait their turn without blocking the process's other requests.
    PASSWORD_HASH_CONCURRENCY: Positive = 2

    SOCKETIO_MESSAGE_QUEUE: str | None = None
    SOCKETIO_CHANNEL: str = "messaging"
    SOCKETIO_CORS_ORIGINS: str = ""
    TYPING_EVENTS_PER_SECOND: Positive = 4
    # A typing indicator lasts this long after its last `typing: true` (the join ack's `typing`).
    TYPING_TTL_SECONDS: Positive = 6
    SOCKET_EVENTS_PER_SECOND: Positive = 20

    DAILY_FREE_MESSAGES: Count = 20
    POINTS_PER_MESSAGE: Count = 10
    MIN_EXPIRATION_HOURS: Positive = 1
    MAX_EXPIRATION_HOURS: Positive = 8760
    MAX_MESSAGE_LENGTH: Positive = 5000
    CONVERSATION_POINTS_COST: Count = 0
    QUOTA_TIMEZONE: TimeZone = "UTC"
    INITIAL_POINTS: Count = 0

    RATELIMIT_ENABLED: bool = True
    RATELIMIT_STORAGE_URI: str = "memory://"
    SEND_RATE_LIMIT: RateLimit = "120 per minute"
    SEARCH_RATE_LIMIT: RateLimit = "30 per minute"  # per user
    LOGIN_FAILURE_LIMIT: RateLimit = "5 per 15 minutes"  # per (username, address)
    LOGIN_ADDRESS_FAILURE_LIMIT: RateLimit = "50 per 15 minutes"
    # Per username, from addresses it never logged in from: far above what one stranger
    # can reach (NIST SP 800-63B caps failures per account at 100).
    LOGIN_USERNAME_FAILURE_LIMIT: RateLimit = "100 per 15 minutes"
    REGISTER_RATE_LIMIT: RateLimit = "30 per hour"  # per address
    UPLOAD_RATE_LIMIT: RateLimit = "30 per minute"  # per user

    UPLOAD_DIR: str = ""  # unset: uploads/ under the instance folder
    MAX_ATTACHMENT_BYTES: Positive = 25 * 1024 * 1024
    ATTACHMENT_TYPES: AttachmentTypes = ",".join(ATTACHMENT_TYPE_NAMES)
    # Bytes one user may upload in any 24 hours (sent or not, deleted or not).
    UPLOAD_DAILY_BYTES: Positive = 200 * 1024 * 1024

    # Proxies in front whose X-Forwarded-For and X-Forwarded-Proto are believed (ProxyFix).
    TRUSTED_PROXIES: Count = 0

    # Web Push to users with no open socket (API.md, Push notifications).
    PUSH_ENABLED: bool = True
    # The VAPID key (PEM, or base64url raw or DER: `flask push generate-keys` prints one) and a
    # contact for push services (mailto: or https:). Required in production; unset in
    # development: a key kept under the instance folder and an example address.
    VAPID_PRIVATE_KEY: str | None = None
    VAPID_SUBJECT: VapidSubject | None = None
    PUSH_INCLUDE_CONTENT: bool = False  # never for a message that expires
    PUSH_TTL_SECONDS: Count = 86400  # how long a push service may hold a push
    PUSH_TIMEOUT_SECONDS: Positive = 10  # connect and read timeout of one push
    PUSH_MAX_PENDING: Positive = 1000  # messages being pushed at once, per process
    PUSH_MAX_SUBSCRIPTIONS_PER_USER: Positive = 10  # the oldest go beyond it
    # http endpoints and loopback or private addresses (a push service run for testing).
    # Unset: allowed outside production only.
    PUSH_ALLOW_LOCAL_ENDPOINTS: bool | None = None

    NODE_MODULES: str = ""  # unset: node_modules next to the app


_PROBLEMS = {
    "int_parsing": "must be an integer, not {input!r}",
    "int_from_float": "must be an integer, not {input!r}",
    "bool_parsing": "must be true or false, not {input!r}",
    "literal_error": "must be {expected}, not {input!r}",
    "greater_than_equal": "must be at least {ge}, not {input}",
}


class SettingsError(ValueError):
    """Settings the app refuses to start with; the message names each variable."""


def _problem(item: Any) -> str:
    name = ".".join(str(part) for part in item["loc"])
    context = item.get("ctx", {})
    template = _PROBLEMS.get(item["type"])
    if template is None:  # a validator's own words, or pydantic's
        return f"{name} {context.get('error', item['msg'])}"
    return f"{name} {template.format(input=item['input'], **context)}"


def read_settings(**given: Any) -> Settings:
    """The settings from the environment; `given` values win over it. SettingsError if invalid."""
    try:
        return Settings(**given)
    except ValidationError as error:
        problems = [_problem(item) for item in error.errors(include_url=False)]
        raise SettingsError("; ".join(problems)) from None


def setting_names() -> tuple[str, ...]:
    """Every environment variable that changes what the app does: the fields of
    Settings and SERVER_SETTINGS."""
    return tuple(sorted(set(Settings.model_fields) | set(SERVER_SETTINGS)))


def environment_without_settings() -> dict[str, str]:
    """This process's environment without any of the app's settings: where a launcher
    (tests, benchmarks) starts before it sets exactly what its server should use."""
    names = set(setting_names())
    return {name: value for name, value in os.environ.items() if name not in names}


def database_url(url: str | None) -> str | None:
    """Map the plain URLs users give to the drivers we ship (psycopg2 for PostgreSQL)."""
    if not url:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


class Config:
    """Flask's and the extensions' fixed settings, shared by every environment.

    `load` adds the configurable ones from `Settings`. A subclass may fix some of them
    whatever the environment says (TestingConfig) and `check` the final config.
    """

    ENV_NAME = "base"
    secure_cookies_by_default: ClassVar[bool] = False  # JWT_COOKIE_SECURE when unset
    local_push_endpoints_by_default: ClassVar[bool] = True  # PUSH_ALLOW_LOCAL_ENDPOINTS when unset

    # Off: Flask-Limiter's headers put its Retry-After on every answer of a limited
    # route (201 and 404 too) and over a 503's own; our 429 sets Retry-After itself.
    RATELIMIT_HEADERS_ENABLED = False
    # The web UI keeps the access token in an HttpOnly cookie; state-changing API
    # calls from it carry the CSRF cookie's value in X-CSRF-TOKEN (double submit).
    JWT_TOKEN_LOCATION = ["headers", "cookies"]
    JWT_COOKIE_SAMESITE = "Lax"
    JWT_COOKIE_CSRF_PROTECT = True
    JWT_SESSION_COOKIE = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None
    MAX_CONTENT_LENGTH = 64 * 1024

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The final config: this class's values, the settings (the class's own values
        and the overrides win over the environment), then the other overrides."""
        overrides = dict(overrides or {})
        fields = Settings.model_fields
        given = {name: getattr(cls, name) for name in fields if hasattr(cls, name)}
        given |= {name: overrides.pop(name) for name in list(overrides) if name in fields}
        values = read_settings(**given).model_dump(exclude={"APP_ENV"})  # the class says which
        values["SQLALCHEMY_DATABASE_URI"] = database_url(values.pop("DATABASE_URL"))
        values["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(seconds=values["JWT_ACCESS_TOKEN_EXPIRES"])
        if values["JWT_COOKIE_SECURE"] is None:
            values["JWT_COOKIE_SECURE"] = cls.secure_cookies_by_default
        values["SESSION_COOKIE_SECURE"] = values["JWT_COOKIE_SECURE"]
        if values["PUSH_ALLOW_LOCAL_ENDPOINTS"] is None:
            values["PUSH_ALLOW_LOCAL_ENDPOINTS"] = cls.local_push_endpoints_by_default
        config = {name: getattr(cls, name) for name in dir(cls) if name.isupper()}
        return config | values | overrides

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> None:
        """Refuse a final config this environment cannot run with (any will do here)."""


class DevelopmentConfig(Config):
    """`make run`: SQLite under instance/ and a development key kept there."""

    ENV_NAME = "development"


class TestingConfig(Config):
    """The test suite: cheap hashing, no message queue, a fixed key."""

    ENV_NAME = "testing"
    TESTING = True
    JWT_SECRET = "test-secret-key-that-is-long-enough-for-hs256"
    PASSWORD_HASH_TIME_COST = 1
    PASSWORD_HASH_MEMORY_KIB = 8
    SOCKETIO_MESSAGE_QUEUE = None


# A random secret of 32 characters or more has far more (hex: almost surely all 16).
MIN_SECRET_DISTINCT_CHARACTERS = 8


class ProductionConfig(Config):
    """gunicorn in production: secrets and the database must be given."""

    ENV_NAME = "production"
    secure_cookies_by_default = True
    local_push_endpoints_by_default = False

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> None:
        """Fail at start-up when a production secret or the database is missing."""
        secret = config.get("JWT_SECRET")
        if not secret or len(secret) < 32:
            raise SettingsError("JWT_SECRET must be set to at least 32 characters in production")
        if len(set(secret) - set(string.whitespace)) < MIN_SECRET_DISTINCT_CHARACTERS:
            raise SettingsError(
                "JWT_SECRET is too weak: it is blank or repeats a few characters (fewer than "
                f"{MIN_SECRET_DISTINCT_CHARACTERS} different ones); set a random value, e.g. from "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        if not config.get("SQLALCHEMY_DATABASE_URI"):
            raise SettingsError("DATABASE_URL must be set in production")
        if config.get("PUSH_ENABLED"):
            missing = [name for name in ("VAPID_PRIVATE_KEY", "VAPID_SUBJECT") if not config.get(name)]
            if missing:
                raise SettingsError(
                    f"{' and '.join(missing)} must be set in production for Web Push (generate a key "
                    "with `flask push generate-keys`; the subject is a mailto: or https: contact), "
                    "or set PUSH_ENABLED=false"
                )


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    """The config class named by APP_ENV (development when unset)."""
    return CONFIGS[read_settings().APP_ENV]


def development_secret(instance_path: str) -> str:
    """A random signing key kept under instance/, so restarts keep sessions."""
    path = Path(instance_path) / "jwt-secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret
