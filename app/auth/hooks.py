"""The after_login hook: work that runs once each time a user logs in (no timers)."""

import uuid
from collections.abc import Callable

from app.services.expiry import mark_expired_for_user

AfterLoginHook = Callable[[uuid.UUID], dict[str, int]]


def mark_expired_messages(user_id: uuid.UUID) -> dict[str, int]:
    """Mark the user's expired messages; reported to the client as expiredMessages."""
    return {"expired_messages": mark_expired_for_user(user_id)}


AFTER_LOGIN_HOOKS: list[AfterLoginHook] = [mark_expired_messages]


def run_after_login(user_id: uuid.UUID) -> dict[str, int]:
    """Run every after_login hook and merge what they report."""
    report: dict[str, int] = {}
    for hook in AFTER_LOGIN_HOOKS:
        report.update(hook(user_id))
    return report
