"""Real-time messaging service.

`create_app` is imported lazily from app.factory so that `app.green` can patch the
standard library before Flask, SQLAlchemy or anything else is imported.
"""

from typing import Any


def create_app(config_class: Any = None, **overrides: Any) -> Any:
    """Build the Flask application (see app.factory.create_app)."""
    from app.factory import create_app as build

    return build(config_class, **overrides)
