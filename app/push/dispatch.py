"""After a message commits: Web Push to the recipients who have no open socket.

`PushDispatcher.message_committed` is called by the send endpoint once the message is
committed and returns at once; the work runs in a detached green thread: find the
recipients with no socket on any process (the socket registry), their subscriptions in
sessions still valid in conversations they did not mute, and post one push to each.
404 and 410 delete the subscription; other failures are logged once. Nothing retries,
nothing waits on a clock; at most PUSH_MAX_PENDING messages are being pushed at once per
process, and one more is dropped with a warning rather than queued without bound.
"""

import logging
import threading
import uuid

from flask import Flask

from app import clock, green
from app.database import single_statement
from app.errors import describe_unavailable, is_unavailable
from app.push.client import Outcome, PushClient, audience_of
from app.push.notice import MessageNotice, push_for
from app.realtime.registry import SocketRegistry
from app.services import push_subscriptions

log = logging.getLogger(__name__)


class PushDispatcher:
    """Sends the pushes of committed messages off the request's path."""

    def __init__(
        self,
        app: Flask,
        client: PushClient,
        registry: SocketRegistry,
        *,
        max_pending: int,
        default_ttl: int,
        include_content: bool,
    ) -> None:
        self.app = app
        self.client = client
        self.registry = registry
        self.max_pending = max_pending
        self.default_ttl = default_ttl
        self.include_content = include_content
        self.pending = 0
        self._changed = threading.Condition()

    def message_committed(self, notice: MessageNotice, recipient_ids: list[uuid.UUID]) -> None:
        """Push a committed message to those of `recipient_ids` who are offline; returns at once."""
        if not recipient_ids:
            return
        with self._changed:
            if self.pending >= self.max_pending:
                log.warning("push skipped: %d messages are already being pushed", self.pending)
                return
            self.pending += 1
        green.start_detached(lambda: self._run(notice, recipient_ids))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no push is pending (tests, shutdown); False if still busy after `timeout`."""
        with self._changed:
            return self._changed.wait_for(lambda: self.pending == 0, timeout)

    def _run(self, notice: MessageNotice, recipient_ids: list[uuid.UUID]) -> None:
        try:
            with self.app.app_context():
                self._push(notice, recipient_ids)
        except Exception as error:
            if not is_unavailable(error):
                log.exception("push of message %s failed", notice.message_id)
            else:  # the database went away: one line, as for requests (app.api.errors)
                log.warning("push of message %s skipped: %s", notice.message_id, describe_unavailable(error))
        finally:
            with self._changed:
                self.pending -= 1
                self._changed.notify_all()

    def _push(self, notice: MessageNotice, recipient_ids: list[uuid.UUID]) -> None:
        offline = self._offline(recipient_ids)
        if not offline:
            return
        now = clock.now()
        with single_statement() as connection:
            subscriptions = push_subscriptions.targets(connection, notice.conversation_id, offline, now)
        if not subscriptions:
            return
        push = push_for(notice, now, default_ttl=self.default_ttl, include_content=self.include_content)
        for subscription in subscriptions:
            outcome, reason = self.client.send(subscription, push)
            if outcome is Outcome.GONE:
                push_subscriptions.forget(subscription.id, subscription.endpoint)
            elif outcome is Outcome.FAILED:
                log.warning(
                    "push to %s for subscription %s failed: %s",
                    audience_of(subscription.endpoint),
                    subscription.id,
                    reason,
                )

    def _offline(self, user_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """The users with no socket on any process; all of them if the registry cannot say
        (a push to someone online is better than none to someone offline)."""
        try:
            online = self.registry.online_users([str(uid) for uid in user_ids])
        except Exception as error:
            log.warning(
                "socket registry unavailable (%s); pushing to every recipient", describe_unavailable(error)
            )
            return list(user_ids)
        return [uid for uid in user_ids if str(uid) not in online]
