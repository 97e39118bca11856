"""What every suite that starts real servers needs: ports, environment, process groups, tokens."""

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest

from config import environment_without_settings

TOP_LEVEL = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD = "password123"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def clean_environment() -> dict[str, str]:
    """This process's environment without any of the app's settings."""
    return environment_without_settings()


def fail_or_skip(reason: str) -> None:
    """Skip locally; in CI a missing dependency fails the run."""
    if IN_CI:
        pytest.fail(reason + " (CI=true)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, then SIGKILL what lingers.

    SIGTERM (gunicorn's graceful stop), not SIGINT: on SIGINT gunicorn's eventlet worker
    calls sys.exit inside a green thread and eventlet's thread pool prints that at exit.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # whatever of the group survived (an orphaned worker)
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@dataclass
class Account:
    """A registered, logged-in user of a live server."""

    id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of this user."""
        return {"Authorization": f"Bearer {self.token}"}


def b64url(data: dict[str, Any]) -> str:
    """A JWT segment."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forge_token(
    user_id: str,
    *,
    key: str,
    expires_in: float = 3600,
    algorithm: str = "HS256",
    token_type: str = "access",
    **claims: Any,
) -> str:
    """A token with the claims flask-jwt-extended issues, signed as told."""
    now = int(time.time())
    payload = {
        "fresh": False,
        "iat": now - 10,
        "jti": str(uuid.uuid4()),
        "type": token_type,
        "sub": user_id,
        "nbf": now - 10,
        "exp": int(now + expires_in),
        **claims,
    }
    return jwt.encode(payload, key, algorithm=algorithm)


def unsigned_token(user_id: str) -> str:
    """A token with `alg: none` and no signature (a forgery any client could make)."""
    now = int(time.time())
    claims = {"fresh": False, "iat": now, "jti": str(uuid.uuid4()), "type": "access", "sub": user_id}
    claims |= {"nbf": now, "exp": now + 3600}
    return f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims)}."


# eventlet (maintenance mode) reuses the file descriptor of a websocket it closed twice
# ("socket shutdown error: [Errno 9] Bad file descriptor" in gunicorn's log) while a stale
# hub listener still holds that number; a new PostgreSQL connection that gets the number
# then fails with this RuntimeError and that one socket connect is refused. It is the
# stack's bug, not the service's, and the closing note tracks it: a trace that is exactly
# this one is reported on stderr instead of failing the run.
EVENTLET_FD_REUSE = "Second simultaneous read on fileno"


def log_alarms(text: str, alarms: tuple[str, ...]) -> list[int]:
    """Line numbers of alarming lines, except a trace whose error is eventlet's fd reuse."""
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        if not any(alarm in line for alarm in alarms):
            continue
        if "Traceback" in line:
            end = next((n for n in range(number + 1, len(lines)) if lines[n][:1] not in (" ", "")), number)
            if EVENTLET_FD_REUSE in lines[end]:
                print(f"warning: eventlet fd reuse in a server log: {lines[end][:120]}", file=sys.stderr)
                continue
        found.append(number)
    return found
