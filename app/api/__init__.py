"""REST blueprints under /api."""

from flask import Flask


def register_api(app: Flask) -> None:
    """Register every REST blueprint."""
    from app.api import attachments, conversations, health, messages, openapi, push, search, users
    from app.auth import bp as auth_bp

    blueprints = (
        auth_bp,
        users.bp,
        conversations.bp,
        messages.bp,
        attachments.bp,
        search.bp,
        push.bp,
        openapi.bp,
    )
    for blueprint in (*blueprints, health.bp):
        app.register_blueprint(blueprint)
