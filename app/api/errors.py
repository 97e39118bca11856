"""Every failure, whoever raised it, becomes the one JSON error shape here."""

import logging
import time
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from app.errors import (
    UNAVAILABLE_ERRORS,
    AppError,
    RateLimited,
    ServiceUnavailable,
    describe_unavailable,
    is_unavailable,
)
from app.extensions import db, limiter

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    429: "rate_limited",
}


def error_response(error: AppError) -> tuple[Response, int, dict[str, str]]:
    """The JSON response of an AppError."""
    return jsonify(error.to_dict()), error.status, error.headers


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection itself may be what failed
        log.debug("rollback after an error failed", exc_info=True)


def wants_html_page() -> bool:
    """A browser asking for a page (not the API, not Socket.IO) gets an HTML error page."""
    path = request.path
    if path.startswith(("/api/", "/socket.io", "/healthz", "/static/", "/vendor/")):
        return False
    return request.accept_mimetypes.accept_html


def handle_app_error(error: AppError) -> Any:
    """A service or handler refused the request."""
    _rollback()
    return error_response(error)


def handle_rate_limit(error: RateLimitExceeded) -> Any:
    """Flask-Limiter refused the request."""
    current = limiter.current_limit
    retry_after = current.reset_at - time.time() if current is not None else 60
    return error_response(RateLimited(retry_after))


def handle_http_exception(error: HTTPException) -> Any:
    """404, 405, 413 and the rest of Werkzeug's errors, in our shape."""
    _rollback()
    status = error.code or 500
    if wants_html_page():
        title = error.name if status != 404 else "Page not found"
        return render_template("error.html", status=status, title=title, message=error.description), status
    code = _HTTP_CODES.get(status, "http_error")
    body = {"error": {"code": code, "message": error.description or error.name}}
    headers = {}
    if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    return jsonify(body), status, headers


def handle_unavailable(error: Exception) -> Any:
    """The database or Redis cannot be reached: 503, and the client may retry."""
    _rollback()
    log.warning("dependency unavailable: %s", describe_unavailable(error))
    return error_response(ServiceUnavailable())


def handle_unexpected(error: Exception) -> Any:
    """A bug: log it with its trace, answer 500 without one."""
    if is_unavailable(error):
        return handle_unavailable(error)
    _rollback()
    log.exception("unhandled error")
    body = {"error": {"code": "internal_error", "message": "Something went wrong on our side."}}
    return jsonify(body), 500


def register_error_handlers(app: Flask) -> None:
    """Map every error type to the JSON error shape."""
    app.register_error_handler(AppError, handle_app_error)
    app.register_error_handler(RateLimitExceeded, handle_rate_limit)
    app.register_error_handler(HTTPException, handle_http_exception)
    for unavailable in UNAVAILABLE_ERRORS:
        app.register_error_handler(unavailable, handle_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
