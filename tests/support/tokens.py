"""Tokens made outside the server: those flask-jwt-extended would issue, and forgeries."""

import base64
import json
import time
import uuid
from typing import Any

import jwt

from .settings import TEST_JWT_SECRET


def b64url(data: dict[str, Any]) -> str:
    """A JWT segment."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forge_token(
    user_id: str,
    *,
    key: str = TEST_JWT_SECRET,
    expires_in: float = 3600,
    algorithm: str = "HS256",
    token_type: str = "access",
    **claims: Any,
) -> str:
    """A token with the claims flask-jwt-extended issues, signed as told (by default as live servers sign)."""
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


def with_payload(token: str, **changes: Any) -> str:
    """The token with its payload changed and its original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{b64url(claims)}.{signature}"


class TokenForge:
    """Tokens a client could make up, for the refusal tests (a live server's key is `secret`)."""

    secret = TEST_JWT_SECRET
    signed = staticmethod(forge_token)
    unsigned = staticmethod(unsigned_token)
    tampered = staticmethod(with_payload)
