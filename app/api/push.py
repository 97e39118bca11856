"""Web Push: the server's key, and the caller's browsers' subscriptions."""

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app
from flask_jwt_extended import current_user, get_jwt, jwt_required

from app.api.messages import user_rate_key
from app.api.spec import endpoint
from app.auth.tokens import issued_at
from app.errors import PushDisabled
from app.extensions import limiter
from app.push.setup import current_dispatcher
from app.schemas import PushKeyOut, PushSubscribeRequest, PushSubscriptionOut, PushUnsubscribeRequest
from app.services import push_subscriptions

bp = Blueprint("push", __name__, url_prefix="/api/push")

SUBSCRIBE_RATE_LIMIT = "30 per hour"


def _require_push() -> None:
    if current_dispatcher() is None:
        raise PushDisabled()


@bp.get("/key")
@jwt_required()
@endpoint("The VAPID application server key to subscribe with", response=PushKeyOut, errors=(404,))
def key() -> Any:
    """The key browsers pass to pushManager.subscribe; 404 push_disabled when push is off."""
    _require_push()
    return {"public_key": current_app.extensions["push_public_key"]}


@bp.post("/subscriptions")
@jwt_required()
@limiter.limit(SUBSCRIBE_RATE_LIMIT, key_func=user_rate_key)
@endpoint(
    "Store this browser's push subscription (tied to this login session)",
    body=PushSubscribeRequest,
    response=PushSubscriptionOut,
    status=201,
    errors=(400, 404, 429),
    also=((200, "The caller already had this endpoint: refreshed"),),
)
def subscribe(body: PushSubscribeRequest) -> Any:
    """Store the subscription; pushes go to it while this session is valid and not muted."""
    _require_push()
    claims = get_jwt()
    session = push_subscriptions.Session(
        claims["jti"], issued_at(claims), datetime.fromtimestamp(claims["exp"], UTC)
    )
    subscription_id, created = push_subscriptions.subscribe(
        current_user.id,
        session,
        body.endpoint,
        body.keys.p256dh,
        body.keys.auth,
        allow_local=current_app.config["PUSH_ALLOW_LOCAL_ENDPOINTS"],
        max_per_user=current_app.config["PUSH_MAX_SUBSCRIPTIONS_PER_USER"],
    )
    return {"id": subscription_id}, 201 if created else 200


@bp.delete("/subscriptions")
@jwt_required()
@endpoint("Forget this browser's push subscription", body=PushUnsubscribeRequest, status=204, errors=(400,))
def unsubscribe(body: PushUnsubscribeRequest) -> Any:
    """Forget the caller's subscription at this endpoint (204 also when there was none)."""
    push_subscriptions.unsubscribe(current_user.id, body.endpoint)
    return "", 204
