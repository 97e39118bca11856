"""Liveness with a database check."""

from typing import Any

import sqlalchemy as sa
from flask import Blueprint

from app.api.spec import endpoint
from app.extensions import db
from app.schemas import HealthOut

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@endpoint("200 when the database answers, 503 otherwise", response=HealthOut, auth=False, errors=(503,))
def healthz() -> Any:
    """Answer ok once the database has answered a trivial query."""
    db.session.execute(sa.text("SELECT 1"))
    db.session.rollback()
    return {"status": "ok"}
