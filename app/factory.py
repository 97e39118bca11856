"""The application factory."""

import logging
import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import green
from app.extensions import db, jwt, limiter, migrate, socketio
from config import Config, config_from_env, development_secret

TOP_LEVEL = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(config_class: type[Config] | None = None, **overrides: Any) -> Flask:
    """Build the app: config, extensions, blueprints, error handlers, socket handlers, CLI."""
    app = Flask(
        __name__.split(".")[0],
        instance_path=os.environ.get("INSTANCE_PATH") or os.path.join(TOP_LEVEL, "instance"),
        template_folder=os.path.join(TOP_LEVEL, "templates"),
    )
    configure(app, config_class or config_from_env(), overrides)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    trust_proxies(app)
    return app


def configure(app: Flask, config_class: type[Config], overrides: dict[str, Any]) -> None:
    """Load settings; fail fast on a config the environment cannot run with; fill in
    development defaults."""
    app.config.update(config_class.load(overrides))
    config_class.check(app.config)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{os.path.join(app.instance_path, 'messaging.db')}"
    if not app.config.get("JWT_SECRET"):
        app.config["JWT_SECRET"] = development_secret(app.instance_path)
    app.config["SECRET_KEY"] = app.config["JWT_SECRET"]
    from app.database import engine_options

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"],
        app.config["DB_POOL_SIZE"],
        app.config["DB_MAX_OVERFLOW"],
        app.config["DB_POOL_TIMEOUT"],
    )
    logging.getLogger("app").setLevel(logging.INFO)


def trust_proxies(app: Flask) -> None:
    """Believe X-Forwarded-For and X-Forwarded-Proto from the TRUSTED_PROXIES proxies in
    front (none by default): otherwise every client would have the proxy's address.

    It wraps the whole app, Socket.IO's middleware included.
    """
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    """Bind every extension to the app."""
    from app import models  # noqa: F401  (every table is known to Alembic)
    from app.auth.tokens import register_token_callbacks
    from app.database import configure_sqlite, ping_idle_connections
    from app.push.setup import init_push
    from app.realtime import events  # registers the socket handlers
    from app.realtime.manager import make_client_manager
    from app.realtime.registry import make_registry
    from app.realtime.typing_state import make_typing_state
    from app.services.throttle import AuthThrottle
    from app.storage import make_storage

    db.init_app(app)
    configure_sqlite(app)
    ping_idle_connections(app, app.config["DB_PING_IDLE_SECONDS"])
    # Give the connection back at the end of every request, even where an app
    # context outlives it (the CLI, tests): a read transaction left open would pin
    # a connection and, on SQLite, an old snapshot.
    app.teardown_request(lambda _error: db.session.remove())
    migrate.init_app(
        app, db, directory=os.path.join(TOP_LEVEL, "migrations"), render_as_batch=True, compare_type=True
    )
    register_token_callbacks(app)
    jwt.init_app(app)
    limiter.init_app(app)
    socketio.init_app(
        app,
        async_mode=green.ASYNC_MODE,
        client_manager=make_client_manager(
            app.config.get("SOCKETIO_MESSAGE_QUEUE"), app.config["SOCKETIO_CHANNEL"], events.token_expiry
        ),
        cors_allowed_origins=[o.strip() for o in app.config["SOCKETIO_CORS_ORIGINS"].split(",") if o.strip()]
        or None,  # None: same origin only
    )
    app.extensions["socket_registry"] = make_registry(
        app.config.get("SOCKETIO_MESSAGE_QUEUE"),
        app.config["SOCKETIO_CHANNEL"],
        app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds(),
    )
    app.extensions["auth_throttle"] = AuthThrottle(app.config["RATELIMIT_STORAGE_URI"])
    app.extensions["attachment_storage"] = make_storage(app)
    init_push(app)
    app.extensions["typing_state"] = make_typing_state(
        app.config.get("SOCKETIO_MESSAGE_QUEUE"),
        app.config["RATELIMIT_STORAGE_URI"],
        app.config["SOCKETIO_CHANNEL"],
        app.config["TYPING_TTL_SECONDS"],
    )


def register_blueprints(app: Flask) -> None:
    """REST API and web pages."""
    from app.api import register_api
    from app.web import bp as web_bp

    register_api(app)
    app.register_blueprint(web_bp)


def register_errorhandlers(app: Flask) -> None:
    """One JSON error shape for everything."""
    from app.api.errors import register_error_handlers
    from app.web.security import register_security_headers

    register_error_handlers(app)
    register_security_headers(app)


def register_commands(app: Flask) -> None:
    """`flask points grant`, `flask attachments clean`, `flask push generate-keys` and
    `flask seed-demo`."""
    from app.cli import attachments_cli, points_cli, seed_demo
    from app.push.cli import push_cli

    app.cli.add_command(attachments_cli)
    app.cli.add_command(points_cli)
    app.cli.add_command(push_cli)
    app.cli.add_command(seed_demo)
