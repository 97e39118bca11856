"""Authentication: register, login (with the after_login hook), logout, me."""

import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, request
from flask_jwt_extended import current_user, get_jwt, jwt_required

from app.api.spec import endpoint
from app.auth.hooks import run_after_login
from app.auth.tokens import issue_access_token, revoke_token
from app.realtime.notify import disconnect_other_sessions, disconnect_sockets, refuse_new_sockets
from app.schemas import (
    LoginOut,
    LoginRequest,
    OkOut,
    PasswordChangeRequest,
    ProfileUpdateRequest,
    RegisterRequest,
    UserEnvelope,
)
from app.services import accounts, push_subscriptions
from app.services.throttle import AuthThrottle
from app.settings import business_settings, hashing_cost, login_limits, registration_limit

bp = Blueprint("auth", __name__, url_prefix="/api/auth")


def client_address() -> str:
    """The caller's address (behind TRUSTED_PROXIES proxies, the one they forwarded)."""
    return request.remote_addr or "unknown"


def auth_throttle() -> AuthThrottle:
    """The failed-login and registration counters of this app."""
    return current_app.extensions["auth_throttle"]


def end_session(claims: dict[str, Any], user_id: Any) -> None:
    """Revoke a token at once and disconnect the sockets opened with it, on every process.

    The socket registry (Redis with several processes) is told first: if it cannot be
    reached the logout fails with 503 before anything changed, and a retry works.
    """
    sids = refuse_new_sockets(claims["jti"], float(claims["exp"]))
    revoke_token(claims["jti"], user_id, datetime.fromtimestamp(claims["exp"], UTC))
    push_subscriptions.end_session(claims["jti"])  # pushes stop anyway: the session is invalid
    disconnect_sockets(claims["jti"], sids)


@bp.post("/register")
@endpoint(
    "Create an account",
    body=RegisterRequest,
    response=UserEnvelope,
    status=201,
    auth=False,
    errors=(409, 429),
)
def register(body: RegisterRequest) -> Any:
    """Create an account."""
    auth_throttle().count_registration(client_address(), registration_limit())
    user = accounts.register_user(
        body.username, body.password, body.display_name, hashing=hashing_cost(), settings=business_settings()
    )
    return {"user": user}


@bp.post("/login")
@endpoint(
    "Log in; runs the after_login hook", body=LoginRequest, response=LoginOut, auth=False, errors=(401, 429)
)
def login(body: LoginRequest) -> Any:
    """Exchange credentials for an access token and report messages that expired meanwhile."""
    user = accounts.log_in(
        body.username,
        body.password,
        client_address(),
        throttle=auth_throttle(),
        limits=login_limits(),
        hashing=hashing_cost(),
    )
    token, expires_at = issue_access_token(user)
    report = run_after_login(user.id)
    return {"access_token": token, "expires_at": expires_at, "user": user, **report}


@bp.post("/logout")
@jwt_required()
@endpoint("Revoke the current token", response=OkOut)
def logout() -> Any:
    """Revoke the token this request carries."""
    end_session(get_jwt(), current_user.id)
    return {"ok": True}


@bp.get("/me")
@jwt_required()
@endpoint("The current user", response=UserEnvelope)
def me() -> Any:
    """The user this token belongs to."""
    return {"user": current_user}


@bp.patch("/me")
@jwt_required()
@endpoint("Change the display name", body=ProfileUpdateRequest, response=UserEnvelope)
def update_me(body: ProfileUpdateRequest) -> Any:
    """Rename the current user."""
    return {"user": accounts.update_display_name(current_user.id, body.display_name)}


@bp.post("/password")
@jwt_required()
@endpoint(
    "Change the password; every other token of the user is revoked",
    body=PasswordChangeRequest,
    response=OkOut,
    errors=(403, 429),
)
def change_password(body: PasswordChangeRequest) -> Any:
    """Verify the current password (counted like a login), set the new one, revoke the user's
    other tokens for REST and new sockets; this token stays valid."""
    accounts.change_password(
        current_user.id,
        body.current_password,
        body.new_password,
        keep_jti=get_jwt()["jti"],
        token_lifetime=current_app.config["JWT_ACCESS_TOKEN_EXPIRES"],
        address=client_address(),
        throttle=auth_throttle(),
        limits=login_limits(),
        hashing=hashing_cost(),
    )
    lifetime = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()
    disconnect_other_sessions(str(current_user.id), get_jwt()["jti"], time.time() + lifetime)
    return {"ok": True}
