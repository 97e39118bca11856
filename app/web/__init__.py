"""Jinja pages (the full web UI is built on the REST API and Socket.IO)."""

from flask import Blueprint, render_template

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> str:
    """The landing page."""
    return render_template("index.html")
