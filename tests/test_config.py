"""Settings: declared once, refused at start when invalid, checked for production on the final config."""

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import config
from app import green  # noqa: F401  (silences eventlet's import-time warning)
from app.factory import create_app
from config import ProductionConfig, Settings, SettingsError, TestingConfig

# pytest resets warning filters for each test, dropping the one app.green installed at
# import: load eventlet now, while it holds, or the first app built below would fail.
importlib.import_module("eventlet")

LONG_SECRET = "production-secret-0123456789abcdefghijklmn"
VAPID_KEY = "9g9C0ix4VWfyeByVxMlzH8zhUL7hpIUkmm9uWP31ZB0"  # a test key (support.settings)


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """An environment without any of the app's settings; set the ones a test needs."""
    for name in config.setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    yield monkeypatch


INVALID = {
    "int below its minimum": ("DB_POOL_SIZE", "0", "DB_POOL_SIZE must be at least 1, not 0"),
    "token lifetime too short": (
        "JWT_ACCESS_TOKEN_EXPIRES",
        "59",
        "JWT_ACCESS_TOKEN_EXPIRES must be at least 60, not 59",
    ),
    "non-integer": ("DB_POOL_TIMEOUT", "ten", "DB_POOL_TIMEOUT must be an integer, not 'ten'"),
    "fraction": ("DAILY_FREE_MESSAGES", "2.5", "DAILY_FREE_MESSAGES must be an integer, not '2.5'"),
    "bad bool": ("RATELIMIT_ENABLED", "maybe", "RATELIMIT_ENABLED must be true or false, not 'maybe'"),
    "bad time zone": (
        "QUOTA_TIMEZONE",
        "Mars/Base",
        "QUOTA_TIMEZONE 'Mars/Base' is not a known IANA time zone",
    ),
    "bad rate limit": (
        "LOGIN_FAILURE_LIMIT",
        "5 a fortnight",
        "LOGIN_FAILURE_LIMIT must be a rate limit like '5 per 15 minutes', not '5 a fortnight'",
    ),
    "negative proxy count": ("TRUSTED_PROXIES", "-1", "TRUSTED_PROXIES must be at least 0, not -1"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_an_invalid_setting_is_refused_at_start_naming_the_variable(environ, case):
    name, value, message = INVALID[case]
    environ.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        create_app(TestingConfig)
    assert str(refused.value) == message


def test_an_unknown_app_env_is_refused_naming_the_choices(environ):
    environ.setenv("APP_ENV", "staging")
    with pytest.raises(SettingsError, match="APP_ENV must be 'development', 'testing' or 'production'"):
        create_app()


def test_every_invalid_setting_is_named_at_once(environ):
    environ.setenv("DB_POOL_SIZE", "-1")
    environ.setenv("QUOTA_TIMEZONE", "Nowhere")
    with pytest.raises(SettingsError) as refused:
        create_app(TestingConfig)
    assert "DB_POOL_SIZE must be at least 1" in str(refused.value)
    assert "QUOTA_TIMEZONE 'Nowhere'" in str(refused.value)


def test_overrides_are_validated_like_the_environment(environ):
    with pytest.raises(SettingsError, match="MAX_MESSAGE_LENGTH must be at least 1, not 0"):
        create_app(TestingConfig, MAX_MESSAGE_LENGTH=0)


def test_an_empty_variable_counts_as_unset(environ):
    environ.setenv("DB_POOL_SIZE", "")
    environ.setenv("RATELIMIT_ENABLED", "")
    settings = config.read_settings()
    assert settings.DB_POOL_SIZE == 20 and settings.RATELIMIT_ENABLED is True


def test_setting_names_are_the_settings_fields_and_the_server_settings():
    assert set(config.setting_names()) == set(Settings.model_fields) | set(config.SERVER_SETTINGS)
    assert {"INSTANCE_PATH", "FLASK_APP", "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY"} <= set(
        config.setting_names()
    )


def test_environment_without_settings_drops_every_setting(environ):
    environ.setenv("DB_POOL_SIZE", "3")
    environ.setenv("WEB_CONCURRENCY", "2")
    environ.setenv("UNRELATED_VARIABLE", "kept")
    cleaned = config.environment_without_settings()
    assert "DB_POOL_SIZE" not in cleaned and "WEB_CONCURRENCY" not in cleaned
    assert cleaned["UNRELATED_VARIABLE"] == "kept"


def test_environment_values_reach_the_app_and_testing_values_win_over_them(environ, tmp_path):
    environ.setenv("DATABASE_URL", "postgresql://app@db/messaging")
    environ.setenv("QUOTA_TIMEZONE", "Asia/Tokyo")
    environ.setenv("PASSWORD_HASH_TIME_COST", "9")
    app = create_app(TestingConfig)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg2://app@db/messaging"
    assert app.config["QUOTA_TIMEZONE"] == "Asia/Tokyo"
    assert app.config["PASSWORD_HASH_TIME_COST"] == 1
    assert "JSON_SORT_KEYS" not in app.config


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'production.db'}"


def test_production_refuses_to_start_without_a_secret(environ, tmp_path):
    with pytest.raises(SettingsError, match="JWT_SECRET must be set to at least 32 characters"):
        create_app(ProductionConfig, SQLALCHEMY_DATABASE_URI=sqlite_url(tmp_path))


def test_production_checks_the_secret_after_the_overrides(environ, tmp_path):
    environ.setenv("JWT_SECRET", LONG_SECRET)
    with pytest.raises(SettingsError, match="JWT_SECRET must be set to at least 32 characters"):
        create_app(ProductionConfig, SQLALCHEMY_DATABASE_URI=sqlite_url(tmp_path), JWT_SECRET="short")


def test_production_refuses_to_start_without_a_database(environ):
    environ.setenv("JWT_SECRET", LONG_SECRET)
    with pytest.raises(SettingsError, match="DATABASE_URL must be set in production"):
        create_app(ProductionConfig)


def test_production_starts_with_a_final_config_that_has_both(environ, tmp_path):
    environ.setenv("APP_ENV", "production")
    environ.setenv("DATABASE_URL", sqlite_url(tmp_path))
    environ.setenv("JWT_SECRET", LONG_SECRET)
    environ.setenv("VAPID_PRIVATE_KEY", VAPID_KEY)
    environ.setenv("VAPID_SUBJECT", "mailto:ops@example.com")
    app = create_app()
    assert app.config["ENV_NAME"] == "production"
    assert app.config["JWT_SECRET"] == LONG_SECRET
    assert app.config["JWT_COOKIE_SECURE"] is True and app.config["SESSION_COOKIE_SECURE"] is True


def test_production_cookies_can_be_made_insecure_explicitly(environ, tmp_path):
    environ.setenv("JWT_COOKIE_SECURE", "off")
    app = create_app(
        ProductionConfig,
        SQLALCHEMY_DATABASE_URI=sqlite_url(tmp_path),
        JWT_SECRET=LONG_SECRET,
        PUSH_ENABLED=False,
    )
    assert app.config["JWT_COOKIE_SECURE"] is False and app.config["SESSION_COOKIE_SECURE"] is False


WEAK_SECRETS = {
    "40 spaces": " " * 40,
    "white space of every kind": " \t\n\r" * 10,
    "one character repeated": "a" * 48,
    "a short pattern repeated": "abc1" * 12,
}


@pytest.mark.parametrize("case", list(WEAK_SECRETS))
def test_production_refuses_a_blank_or_weak_secret_naming_it(environ, tmp_path, case):
    environ.setenv("JWT_SECRET", WEAK_SECRETS[case])
    with pytest.raises(SettingsError, match="JWT_SECRET is too weak") as refused:
        create_app(ProductionConfig, SQLALCHEMY_DATABASE_URI=sqlite_url(tmp_path))
    if WEAK_SECRETS[case].strip():
        assert WEAK_SECRETS[case] not in str(refused.value), "the message shows the secret"


def production_app(tmp_path: Path, **settings: object) -> object:
    return create_app(
        ProductionConfig, SQLALCHEMY_DATABASE_URI=sqlite_url(tmp_path), JWT_SECRET=LONG_SECRET, **settings
    )


def test_production_refuses_to_start_without_the_vapid_key_and_subject(environ, tmp_path):
    with pytest.raises(SettingsError, match="VAPID_PRIVATE_KEY and VAPID_SUBJECT must be set in production"):
        production_app(tmp_path)
    with pytest.raises(SettingsError, match="VAPID_SUBJECT must be set"):
        production_app(tmp_path, VAPID_PRIVATE_KEY=VAPID_KEY)
    assert production_app(tmp_path, PUSH_ENABLED=False).extensions["push"] is None


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("not a key", "VAPID_PRIVATE_KEY is not a readable private key"),
        ("AAAA", "VAPID_PRIVATE_KEY is not a readable private key"),
    ],
)
def test_a_vapid_key_that_cannot_be_read_stops_the_start(environ, tmp_path, key, problem):
    with pytest.raises(SettingsError, match=problem):
        production_app(tmp_path, VAPID_PRIVATE_KEY=key, VAPID_SUBJECT="mailto:ops@example.com")


def test_a_vapid_subject_must_be_a_mailto_or_https_contact(environ, tmp_path):
    with pytest.raises(SettingsError, match="VAPID_SUBJECT must be a mailto: address or an https:// URL"):
        production_app(tmp_path, VAPID_PRIVATE_KEY=VAPID_KEY, VAPID_SUBJECT="ops@example.com")


def test_development_keeps_a_generated_vapid_key_under_the_instance_folder(environ, tmp_path):
    environ.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    first = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=sqlite_url(tmp_path))
    key_file = tmp_path / "instance" / "vapid-private-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=sqlite_url(tmp_path))
    assert first.extensions["push_public_key"] == again.extensions["push_public_key"]
    assert first.config["PUSH_ALLOW_LOCAL_ENDPOINTS"] is True
