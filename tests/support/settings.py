"""The environment of a live server: none of the outer settings, the harness's defaults, then the caller's."""

import uuid
from pathlib import Path

from config import environment_without_settings

# Signs the tokens of every live server (and the tokens the harness forges for them);
# 64 bytes or more, so that HS512 tokens are as strong as the key allows.
TEST_JWT_SECRET = "live-server-test-secret-0123456789abcdefghijklmnopqrstuvwxyz-0123456789"
# The VAPID key of every live server (a test key, like the JWT secret above); its public
# half is what the fake push service (support.push_service) checks pushes against.
TEST_VAPID_PRIVATE_KEY = "9g9C0ix4VWfyeByVxMlzH8zhUL7hpIUkmm9uWP31ZB0"
TEST_VAPID_PUBLIC_KEY = (
    "BFt-GMX1TJDbHz2O4mYJ3I_hFQYEr9t9HAC8caxtKELuXJ1a4xQF6D6h1ibc_O5h5NMS3z-0Tp-TU1SpoOOxNog"
)
TEST_VAPID_SUBJECT = "mailto:push-tests@example.com"
PASSWORD = "correct-horse-battery-staple"  # not on the list of common passwords the app refuses

# Not settings of the app, but inherited they would change the server process itself:
# a clock shifted by libfaketime, or the benchmarks' ceiling endpoints and experiments.
PROCESS_OVERRIDES = ("FAKETIME", "LD_PRELOAD", "BENCH_CEILING", "BENCH_EXPERIMENT")

# What every live server runs with unless its caller says otherwise: production mode,
# cheap password hashing (the suites register many users), the pricing the tests expect.
DEFAULT_SETTINGS = {
    "APP_ENV": "production",
    "JWT_SECRET": TEST_JWT_SECRET,
    "VAPID_PRIVATE_KEY": TEST_VAPID_PRIVATE_KEY,
    "VAPID_SUBJECT": TEST_VAPID_SUBJECT,
    "PUSH_ALLOW_LOCAL_ENDPOINTS": "true",  # the fake push service listens on loopback, over http
    "PASSWORD_HASH_TIME_COST": "1",
    "PASSWORD_HASH_MEMORY_KIB": "8",
    "REGISTER_RATE_LIMIT": "100000 per hour",  # the suites register many users from one address
    "SEARCH_RATE_LIMIT": "100000 per minute",  # fuzzing and load suites search far more than people do
    "JWT_COOKIE_SECURE": "false",  # live servers are plain http://127.0.0.1
    "DAILY_FREE_MESSAGES": "20",
    "POINTS_PER_MESSAGE": "10",
    "INITIAL_POINTS": "0",
    "CONVERSATION_POINTS_COST": "0",
    "QUOTA_TIMEZONE": "UTC",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def server_environment(database_url: str, instance_path: Path, **settings: str | None) -> dict[str, str]:
    """The environment of a server and of the CLI run against its database.

    Starts from this process's environment without any of the app's settings
    (config.environment_without_settings), adds DEFAULT_SETTINGS, the database and
    instance path, then `settings`; a setting given as None is left to the app's default.
    """
    env = {k: v for k, v in environment_without_settings().items() if k not in PROCESS_OVERRIDES}
    chosen = {
        **DEFAULT_SETTINGS,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance_path),
        **settings,
    }
    env.update({name: value for name, value in chosen.items() if value is not None})
    return env


def queue_settings(queue_url: str, limits_url: str | None = None) -> dict[str, str]:
    """The settings of processes that share a Redis: the Socket.IO queue, its channel and the rate limits.

    Redis pub/sub channels are shared by every database number of a Redis server, so
    the channel is made unique to these processes.
    """
    return {
        "SOCKETIO_MESSAGE_QUEUE": queue_url,
        "SOCKETIO_CHANNEL": f"live-{uuid.uuid4().hex}",
        "RATELIMIT_STORAGE_URI": limits_url or queue_url,
    }
