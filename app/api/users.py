"""User search."""

from typing import Any

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required

from app.api.spec import endpoint
from app.schemas import UserList, UserSearchQuery
from app.services import accounts

bp = Blueprint("users", __name__, url_prefix="/api/users")


@bp.get("")
@jwt_required()
@endpoint("Find other users by username prefix", query=UserSearchQuery, response=UserList, errors=(400,))
def search(query: UserSearchQuery) -> Any:
    """Other users whose username starts with `q`."""
    return {"users": accounts.search_users(current_user.id, query.q, query.limit)}
