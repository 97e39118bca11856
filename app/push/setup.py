"""Web Push for an app: its VAPID key and subject, the client and the dispatcher."""

import logging
import uuid
from typing import Any

from flask import Flask, current_app

from app.push import keys
from app.push.client import PushClient
from app.push.dispatch import PushDispatcher
from app.push.notice import MessageNotice
from app.push.transport import make_pool

log = logging.getLogger(__name__)


def init_push(app: Flask) -> None:
    """Make the app's push dispatcher (none when PUSH_ENABLED is off).

    The key comes from VAPID_PRIVATE_KEY, or in development from a file kept under the
    instance folder; production refuses to start without it (config.ProductionConfig).
    """
    app.extensions["push"] = None
    if not app.config["PUSH_ENABLED"]:
        return
    try:
        vapid = keys.load_vapid(app.config["VAPID_PRIVATE_KEY"] or keys.development_key(app.instance_path))
    except keys.VapidKeyError as error:
        from config import SettingsError

        raise SettingsError(str(error)) from None
    client = PushClient(
        vapid,
        app.config["VAPID_SUBJECT"] or keys.DEVELOPMENT_SUBJECT,
        make_pool(
            app.config["PUSH_ALLOW_LOCAL_ENDPOINTS"], pool_size=min(app.config["PUSH_MAX_PENDING"], 100)
        ),
        app.config["PUSH_TIMEOUT_SECONDS"],
    )
    app.extensions["push_public_key"] = keys.public_key(vapid)
    app.extensions["push"] = PushDispatcher(
        app,
        client,
        app.extensions["socket_registry"],
        max_pending=app.config["PUSH_MAX_PENDING"],
        default_ttl=app.config["PUSH_TTL_SECONDS"],
        include_content=app.config["PUSH_INCLUDE_CONTENT"],
    )


def current_dispatcher() -> PushDispatcher | None:
    """The running app's push dispatcher; None when push is off."""
    return current_app.extensions.get("push")


def push_new_message(message: dict[str, Any], sender: Any, recipient_ids: tuple[uuid.UUID, ...]) -> None:
    """After a send committed: push it to the recipients with no open socket (returns at once)."""
    dispatcher = current_dispatcher()
    if dispatcher is None:
        return
    notice = MessageNotice(
        conversation_id=message["conversation_id"],
        message_id=message["id"],
        sender_name=sender.display_name or sender.username,
        content=message["content"],
        expires_at=message["expires_at"],
    )
    dispatcher.message_committed(notice, list(recipient_ids))


def finish_pending_pushes(app: Flask) -> None:
    """At a graceful stop, once requests ended: let the pushes this process started end
    (404 and 410 answers still delete their subscriptions), for at most a push's timeout."""
    dispatcher = app.extensions.get("push")
    if dispatcher is not None and not dispatcher.wait_idle(app.config["PUSH_TIMEOUT_SECONDS"] + 1):
        log.warning("graceful stop: %d messages were still being pushed", dispatcher.pending)
