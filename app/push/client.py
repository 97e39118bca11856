"""One Web Push to one subscription: encrypted (aes128gcm) by pywebpush, signed (VAPID)
by py_vapid, posted once with urllib3, the push service's answer classified."""

import enum
import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import urllib3
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

log = logging.getLogger(__name__)

# A VAPID token is valid 12 hours and reused for one audience until an hour before that.
TOKEN_LIFETIME = 12 * 3600
TOKEN_REUSE_MARGIN = 3600


class Outcome(enum.Enum):
    """What became of one push."""

    DELIVERED = "delivered"  # the push service accepted it (2xx)
    GONE = "gone"  # 404 or 410: the subscription no longer exists
    FAILED = "failed"  # anything else: logged once, never retried


class Target(Protocol):
    """A subscription to push to (a stored one: app.services.push_subscriptions.PushTarget)."""

    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Push:
    """What to send: the plaintext and the Web Push headers' values."""

    payload: bytes
    ttl: int
    topic: str
    urgency: str = "high"


class PushClient:
    """Sends pushes with one VAPID identity over one HTTP session."""

    def __init__(self, vapid: Vapid, subject: str, pool: urllib3.PoolManager, timeout: float) -> None:
        self.vapid = vapid
        self.subject = subject
        self.pool = pool
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._tokens: dict[str, tuple[dict[str, str], float]] = {}
        self._lock = threading.Lock()

    def authorization(self, endpoint: str) -> dict[str, str]:
        """The VAPID Authorization header for the endpoint's push service (reused while fresh)."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        with self._lock:
            cached = self._tokens.get(audience)
            if cached is not None and cached[1] - now > TOKEN_REUSE_MARGIN:
                return cached[0]
        expires = int(now) + TOKEN_LIFETIME
        signed = self.vapid.sign({"sub": self.subject, "aud": audience, "exp": expires})
        header = {"Authorization": signed["Authorization"]}
        with self._lock:
            self._tokens[audience] = (header, expires)
        return header

    def send(self, target: Target, push: Push) -> tuple[Outcome, str]:
        """Post one push; the outcome and a short reason for the log (never the endpoint's path,
        which is a capability)."""
        subscription = {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}}
        try:
            body = WebPusher(subscription).encode(push.payload, "aes128gcm")["body"]
            headers = {
                **self.authorization(target.endpoint),
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
                "TTL": str(push.ttl),
                "Topic": push.topic,
                "Urgency": push.urgency,
            }
            response = self.pool.request(
                "POST", target.endpoint, body=body, headers=headers, timeout=self.timeout, redirect=False
            )
        except (urllib3.exceptions.HTTPError, WebPushException, ValueError, OSError) as error:
            return Outcome.FAILED, f"{error.__class__.__name__}: {str(error)[:200]}"
        status = response.status
        if 200 <= status < 300:
            return Outcome.DELIVERED, str(status)
        if status in (404, 410):
            return Outcome.GONE, str(status)
        retry_after = response.headers.get("Retry-After")
        return Outcome.FAILED, f"HTTP {status}" + (f" (Retry-After {retry_after})" if retry_after else "")


def audience_of(endpoint: str) -> str:
    """The push service's origin, which is what logs may name."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.hostname}"
