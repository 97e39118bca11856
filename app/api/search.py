"""Search the messages of my conversations."""

from typing import Any

from flask import Blueprint, current_app
from flask_jwt_extended import current_user, jwt_required

from app.api.messages import user_rate_key
from app.api.spec import endpoint
from app.extensions import limiter
from app.schemas import SearchPage, SearchQuery
from app.services import search

bp = Blueprint("search", __name__, url_prefix="/api/search")


def search_rate_limit() -> str:
    """The per-user search limit from the settings."""
    return current_app.config["SEARCH_RATE_LIMIT"]


@bp.get("")
@jwt_required()
@limiter.limit(search_rate_limit, key_func=user_rate_key)
@endpoint(
    "Search my conversations' messages, newest first",
    query=SearchQuery,
    response=SearchPage,
    errors=(400, 404, 429),
)
def search_messages(query: SearchQuery) -> Any:
    """Visible messages of the caller's conversations (archived ones too) that match `q`."""
    return search.search_messages(
        current_user.id,
        query.q,
        conversation_id=query.conversation_id,
        limit=query.limit,
        before=query.before,
    )
