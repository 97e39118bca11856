"""Jinja pages: login, register, logout, the conversation list and the chat.

The pages are shells; their scripts talk to the REST API and Socket.IO only.
"""

import os
import uuid
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_jwt_extended import current_user as jwt_user
from flask_jwt_extended import get_jwt, set_access_cookies, unset_jwt_cookies, verify_jwt_in_request
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from app.auth import client_address, end_session
from app.auth.hooks import run_after_login
from app.auth.tokens import TokenAccount, issue_access_token
from app.errors import AppError, InvalidCredentials
from app.models import User
from app.services import accounts
from app.settings import business_settings, hashing_cost
from app.web.forms import LoginForm, LogoutForm, RegisterForm

bp = Blueprint("web", __name__)

VENDOR_FILES = {"socket.io.esm.min.js": "socket.io-client/dist"}


def browser_user() -> TokenAccount | None:
    """The user of the access cookie, if it is valid."""
    try:
        verify_jwt_in_request(optional=True, locations=["cookies"])
    except Exception:  # an expired, revoked or forged cookie: treat as logged out
        return None
    return jwt_user if get_jwt() else None


def safe_next(target: str | None) -> str:
    """A same-site path to go to after login (never another host)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("web.home")


def start_browser_session(user: User, destination: str) -> Response:
    """Set the access and CSRF cookies, run the after_login hook, report expired messages."""
    token, _ = issue_access_token(user)
    expired = run_after_login(user.id).get("expired_messages", 0)
    if expired:
        noun = "message" if expired == 1 else "messages"
        flash(f"{expired} {noun} expired while you were away.", "expired")
    response = redirect(destination)
    set_access_cookies(response, token)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form."""
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        throttle = current_app.extensions["login_throttle"]
        address = client_address()
        try:
            throttle.check(form.username.data, address)
            user = accounts.authenticate(form.username.data, form.password.data, hashing=hashing_cost())
        except InvalidCredentials as failure:
            throttle.record_failure(form.username.data, address)
            error = failure.message
        except AppError as failure:
            error = failure.message
        else:
            return start_browser_session(user, safe_next(request.args.get("next")))
    elif request.method == "POST":
        error = "Enter your username and password." if not form.csrf_token.errors else "Please try again."
    status = 200 if error is None else 400
    return render_template("login.html", form=form, error=error), status


@bp.route("/register", methods=["GET", "POST"])
def register() -> Any:
    """The sign-up form; a new account is logged in at once."""
    form = RegisterForm()
    error = None
    if form.validate_on_submit():
        try:
            user = accounts.register_user(
                form.username.data,
                form.password.data,
                form.display_name.data,
                hashing=hashing_cost(),
                settings=business_settings(),
            )
        except AppError as failure:
            error = failure.message
        else:
            return start_browser_session(user, url_for("web.home"))
    elif request.method == "POST":
        error = "Please correct the fields below."
    status = 200 if error is None else 400
    return render_template("register.html", form=form, error=error), status


@bp.post("/logout")
def logout() -> Any:
    """Revoke the cookie's token, disconnect its sockets and clear the cookies.

    Without the form's CSRF token nothing happens: another site cannot log you out.
    """
    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("web.home"))
    user = browser_user()
    if user is not None:
        end_session(get_jwt(), user.id)
    response = redirect(url_for("web.login"))
    unset_jwt_cookies(response)
    return response


def app_page(conversation_id: uuid.UUID | None) -> Any:
    """The messenger shell, for the list (/) or a chat (/c/<id>)."""
    user = browser_user()
    if user is None:
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    settings = business_settings()
    return render_template(
        "app.html",
        user=user,
        conversation_id=conversation_id,
        logout_form=LogoutForm(),
        max_length=settings.max_message_length,
        min_hours=settings.min_expiration_hours,
        max_hours=settings.max_expiration_hours,
        conversation_cost=settings.conversation_points_cost,
    )


@bp.get("/")
def home() -> Any:
    """The conversation list."""
    return app_page(None)


@bp.get("/c/<uuid:conversation_id>")
def chat(conversation_id: uuid.UUID) -> Any:
    """A conversation."""
    return app_page(conversation_id)


@bp.get("/vendor/<path:filename>")
def vendor(filename: str) -> Any:
    """Front-end libraries installed from npm (package.json), served as they are."""
    folder = VENDOR_FILES.get(filename)
    if folder is None:
        raise NotFound()
    root = current_app.config["NODE_MODULES"] or os.path.join(
        os.path.dirname(current_app.root_path), "node_modules"
    )
    return send_from_directory(os.path.join(root, folder), filename, max_age=3600)
