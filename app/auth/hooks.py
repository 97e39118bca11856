"""The after_login hook: work that runs once each time a user logs in (no timers)."""

import uuid
from collections.abc import Callable

from app.services.attachments import sweep_unsent
from app.services.expiry import mark_expired_for_user
from app.storage import app_storage

AfterLoginHook = Callable[[uuid.UUID], dict[str, int]]


def mark_expired_messages(user_id: uuid.UUID) -> dict[str, int]:
    """Mark the user's expired messages and delete their attachments' bytes (after the
    marking committed); reported to the client as expiredMessages."""
    return {"expired_messages": mark_expired_for_user(user_id)}


def delete_unsent_uploads(user_id: uuid.UUID) -> dict[str, int]:
    """Delete the user's uploads that were never sent and are a day old (not reported)."""
    sweep_unsent(user_id, app_storage())
    return {}


AFTER_LOGIN_HOOKS: list[AfterLoginHook] = [mark_expired_messages, delete_unsent_uploads]


def run_after_login(user_id: uuid.UUID) -> dict[str, int]:
    """Run every after_login hook and merge what they report."""
    report: dict[str, int] = {}
    for hook in AFTER_LOGIN_HOOKS:
        report.update(hook(user_id))
    return report
