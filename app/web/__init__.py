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
from flask_wtf import FlaskForm
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from app.auth import auth_throttle, client_address, end_session
from app.auth.hooks import run_after_login
from app.auth.tokens import TokenAccount, issue_access_token, verify_token
from app.errors import AppError, RateLimited, Unauthorized, UsernameTaken
from app.models import User
from app.services import accounts
from app.settings import business_settings, hashing_cost, login_limits, registration_limit
from app.web.forms import LoginForm, LogoutForm, RegisterForm

bp = Blueprint("web", __name__)

FIELDS_REFUSED = "Please correct the fields below."
VENDOR_FILES = {"socket.io.esm.min.js": "socket.io-client/dist"}


def browser_user() -> TokenAccount | None:
    """The user of the access cookie, if it is valid."""
    try:
        verify_jwt_in_request(optional=True, locations=["cookies"])
    except Exception:  # an expired, revoked or forged cookie: treat as logged out
        return None
    return jwt_user if get_jwt() else None


def cookie_session() -> tuple[dict[str, Any], uuid.UUID] | None:
    """The claims and user id of the access cookie's token, if it is valid.

    For a form POST: the form's own CSRF token stands for the API's double-submit
    header, which `verify_jwt_in_request` would demand (and, without it, leave the
    token alive), so the cookie is verified as a socket's token is.
    """
    token = request.cookies.get(current_app.config["JWT_ACCESS_COOKIE_NAME"])
    if not token:
        return None
    try:
        claims, account = verify_token(token)
    except Unauthorized:  # expired, revoked or forged: nothing to end
        return None
    return claims, account.id


def safe_next(target: str | None) -> str:
    """A same-site path to go to after login (never another host).

    Control characters are removed first, as browsers drop tabs and newlines from a
    URL: `/<TAB>/evil.com` would otherwise be checked as a path and followed as `//evil.com`.
    """
    path = "".join(ch for ch in target or "" if ch.isprintable())
    if path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return url_for("web.home")


def start_browser_session(user: User, destination: str) -> Response:
    """Set the access and CSRF cookies, run the after_login hook, report expired messages."""
    token, _ = issue_access_token(user)
    expired = run_after_login(user.id).get("expired_messages", 0)
    if expired:
        noun = "message" if expired == 1 else "messages"
        flash(f"{expired} {noun} expired while you were away.", "expired")
    response = redirect(destination)
    lifetime = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    set_access_cookies(response, token, max_age=int(lifetime.total_seconds()))  # not a year
    return response


def form_page(template: str, form: FlaskForm, refusal: AppError | None) -> Any:
    """A form page, with what was refused: 400, or 429 with Retry-After when rate limited.

    A refusal about one field (a username someone has) is shown next to that field, like
    the form's own checks; the banner above the form then only points to it.
    """
    if refusal is None:
        return render_template(template, form=form, error=None)
    status = 429 if isinstance(refusal, RateLimited) else 400
    message = refusal.message
    if isinstance(refusal, UsernameTaken) and hasattr(form, "username"):
        form.username.errors = [*form.username.errors, refusal.message]
        message = FIELDS_REFUSED
    return render_template(template, form=form, error=message), status, refusal.headers


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form; someone logged in already goes where they were headed."""
    if request.method == "GET" and browser_user() is not None:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    refusal: AppError | None = None
    if form.validate_on_submit():
        try:
            user = accounts.log_in(
                form.username.data,
                form.password.data,
                client_address(),
                throttle=auth_throttle(),
                limits=login_limits(),
                hashing=hashing_cost(),
            )
        except AppError as failure:
            refusal = failure
        else:
            return start_browser_session(user, safe_next(request.args.get("next")))
    elif request.method == "POST":
        refusal = AppError(
            "Enter your username and password." if not form.csrf_token.errors else "Please try again."
        )
    return form_page("login.html", form, refusal)


@bp.route("/register", methods=["GET", "POST"])
def register() -> Any:
    """The sign-up form; a new account is logged in at once (someone logged in goes to /)."""
    if request.method == "GET" and browser_user() is not None:
        return redirect(url_for("web.home"))
    form = RegisterForm()
    refusal: AppError | None = None
    if form.validate_on_submit():
        try:
            auth_throttle().count_registration(client_address(), registration_limit())
            user = accounts.register_user(
                form.username.data,
                form.password.data,
                form.display_name.data,
                hashing=hashing_cost(),
                settings=business_settings(),
            )
        except AppError as failure:
            refusal = failure
        else:
            return start_browser_session(user, url_for("web.home"))
    elif request.method == "POST":
        refusal = AppError(FIELDS_REFUSED)
    return form_page("register.html", form, refusal)


@bp.post("/logout")
def logout() -> Any:
    """Revoke the cookie's token, disconnect its sockets and clear the cookies.

    Without the form's CSRF token nothing happens: another site cannot log you out.
    """
    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("web.home"))
    session = cookie_session()
    if session is not None:
        end_session(*session)
    response = redirect(url_for("web.login"))
    unset_jwt_cookies(response)
    return response


def app_page(conversation_id: uuid.UUID | None, search_page: bool = False) -> Any:
    """The messenger shell, for the list (/), a chat (/c/<id>) or the search (/search)."""
    user = browser_user()
    if user is None:
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    settings = business_settings()
    return render_template(
        "app.html",
        user=user,
        conversation_id=conversation_id,
        search_page=search_page,
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


@bp.get("/search")
def search() -> Any:
    """Search across my conversations; a result opens the chat at that message."""
    return app_page(None, search_page=True)


@bp.get("/profile")
def profile() -> Any:
    """Change the display name and the password (through the API)."""
    user = browser_user()
    if user is None:
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    return render_template("profile.html", user=user, error=None)


@bp.get("/sw.js")
def service_worker() -> Any:
    """The push service worker, at the root so that its scope is the whole site.

    Checked again on every page load (no-cache), so a new version takes over at once.
    """
    response = send_from_directory(
        os.path.join(current_app.static_folder or "", "js"), "sw.js", mimetype="text/javascript", max_age=0
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


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
