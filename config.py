"""Settings, read from the environment (see the README's configuration table)."""

import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def env_bool(name: str, default: bool) -> bool:
    """A boolean environment variable: 1/true/yes/on or 0/false/no/off."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    """An integer environment variable of at least `minimum`."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {number}")
    return number


# Read by the servers that load the app (not by this module).
SERVER_SETTINGS = ("INSTANCE_PATH", "FLASK_APP", "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY")


def setting_names() -> tuple[str, ...]:
    """Every environment variable that changes what the app does: those this module
    reads (found in its own source, so the list cannot fall behind) and SERVER_SETTINGS."""
    source = Path(__file__).read_text(encoding="utf-8")
    read_here = re.findall(r'(?:env_int|env_bool|environ\.get)\(\s*"([A-Z0-9_]+)"', source)
    return tuple(sorted(set(read_here) | set(SERVER_SETTINGS)))


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


def timezone_name(name: str) -> str:
    """An IANA time zone name, checked at start-up."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"QUOTA_TIMEZONE {name!r} is not a known IANA time zone") from None
    return name


class Config:
    """Settings shared by every environment; each value can come from the environment."""

    ENV_NAME = "base"
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    DB_POOL_SIZE = env_int("DB_POOL_SIZE", 20, minimum=1)
    DB_MAX_OVERFLOW = env_int("DB_MAX_OVERFLOW", 0)
    DB_POOL_TIMEOUT = env_int("DB_POOL_TIMEOUT", 10, minimum=1)
    # Ping a pooled connection before use once it sat idle this long (0: before every use).
    DB_PING_IDLE_SECONDS = env_int("DB_PING_IDLE_SECONDS", 1)

    JWT_SECRET = os.environ.get("JWT_SECRET") or None
    JWT_ACCESS_TOKEN_EXPIRES = timedelta(seconds=env_int("JWT_ACCESS_TOKEN_EXPIRES", 86400, 60))
    APP_SALT = os.environ.get("APP_SALT", "")
    PASSWORD_HASH_TIME_COST = env_int("PASSWORD_HASH_TIME_COST", 3, minimum=1)
    PASSWORD_HASH_MEMORY_KIB = env_int("PASSWORD_HASH_MEMORY_KIB", 65536, minimum=8)

    SOCKETIO_MESSAGE_QUEUE = os.environ.get("SOCKETIO_MESSAGE_QUEUE") or None
    SOCKETIO_CHANNEL = os.environ.get("SOCKETIO_CHANNEL", "messaging")

    DAILY_FREE_MESSAGES = env_int("DAILY_FREE_MESSAGES", 20)
    POINTS_PER_MESSAGE = env_int("POINTS_PER_MESSAGE", 10)
    MIN_EXPIRATION_HOURS = env_int("MIN_EXPIRATION_HOURS", 1, minimum=1)
    MAX_EXPIRATION_HOURS = env_int("MAX_EXPIRATION_HOURS", 8760, minimum=1)
    MAX_MESSAGE_LENGTH = env_int("MAX_MESSAGE_LENGTH", 5000, minimum=1)
    CONVERSATION_POINTS_COST = env_int("CONVERSATION_POINTS_COST", 0)
    QUOTA_TIMEZONE = timezone_name(os.environ.get("QUOTA_TIMEZONE", "UTC"))
    INITIAL_POINTS = env_int("INITIAL_POINTS", 0)

    RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    SEND_RATE_LIMIT = os.environ.get("SEND_RATE_LIMIT", "120 per minute")
    LOGIN_FAILURE_LIMIT = os.environ.get("LOGIN_FAILURE_LIMIT", "5 per 15 minutes")
    LOGIN_ADDRESS_FAILURE_LIMIT = os.environ.get("LOGIN_ADDRESS_FAILURE_LIMIT", "50 per 15 minutes")

    TYPING_EVENTS_PER_SECOND = env_int("TYPING_EVENTS_PER_SECOND", 4, minimum=1)
    SOCKET_EVENTS_PER_SECOND = env_int("SOCKET_EVENTS_PER_SECOND", 20, minimum=1)
    SOCKETIO_CORS_ORIGINS = os.environ.get("SOCKETIO_CORS_ORIGINS", "")

    # The web UI keeps the access token in an HttpOnly cookie; state-changing API
    # calls from it carry the CSRF cookie's value in X-CSRF-TOKEN (double submit).
    JWT_TOKEN_LOCATION = ["headers", "cookies"]
    JWT_COOKIE_SECURE = env_bool("JWT_COOKIE_SECURE", False)
    JWT_COOKIE_SAMESITE = "Lax"
    JWT_COOKIE_CSRF_PROTECT = True
    JWT_SESSION_COOKIE = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = JWT_COOKIE_SECURE
    WTF_CSRF_TIME_LIMIT = None
    NODE_MODULES = os.environ.get("NODE_MODULES", "")

    MAX_CONTENT_LENGTH = 64 * 1024
    JSON_SORT_KEYS = False


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


class ProductionConfig(Config):
    """gunicorn in production: secrets and the database must be given."""

    ENV_NAME = "production"
    JWT_COOKIE_SECURE = env_bool("JWT_COOKIE_SECURE", True)
    SESSION_COOKIE_SECURE = JWT_COOKIE_SECURE

    @classmethod
    def check(cls) -> None:
        """Fail at start-up when a production secret is missing."""
        if not cls.JWT_SECRET or len(cls.JWT_SECRET) < 32:
            raise RuntimeError("JWT_SECRET must be set to at least 32 characters in production")
        if not cls.SQLALCHEMY_DATABASE_URI:
            raise RuntimeError("DATABASE_URL must be set in production")


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    """The config class named by APP_ENV (development when unset)."""
    name = os.environ.get("APP_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"APP_ENV must be one of {', '.join(CONFIGS)}, not {name!r}") from None


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
