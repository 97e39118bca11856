"""REST blueprints under /api."""

from flask import Flask


def register_api(app: Flask) -> None:
    """Register every REST blueprint."""
    from app.api import conversations, health, messages, openapi, users
    from app.auth import bp as auth_bp

    for blueprint in (auth_bp, users.bp, conversations.bp, messages.bp, openapi.bp, health.bp):
        app.register_blueprint(blueprint)
