"""One Web Push to one subscription: encrypted (aes128gcm) and signed (VAPID) by
pywebpush and py_vapid, posted once, the push service's answer classified."""

import enum
import logging
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
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


@dataclass(frozen=True)
class Target:
    """A subscription to push to."""

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

    def __init__(self, vapid: Vapid, subject: str, session: requests.Session, timeout: float) -> None:
        self.vapid = vapid
        self.subject = subject
        self.session = session
        self.timeout = timeout
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
        headers = {**self.authorization(target.endpoint), "Topic": push.topic, "Urgency": push.urgency}
        subscription = {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}}
        try:
            response = WebPusher(subscription, requests_session=self.session).send(
                push.payload, headers, ttl=push.ttl, content_encoding="aes128gcm", timeout=self.timeout
            )
        except (requests.RequestException, WebPushException, ValueError) as error:
            return Outcome.FAILED, f"{error.__class__.__name__}: {str(error)[:200]}"
        status = response.status_code  # type: ignore[union-attr]
        if 200 <= status < 300:
            return Outcome.DELIVERED, str(status)
        if status in (404, 410):
            return Outcome.GONE, str(status)
        retry_after = response.headers.get("Retry-After")  # type: ignore[union-attr]
        return Outcome.FAILED, f"HTTP {status}" + (f" (Retry-After {retry_after})" if retry_after else "")


def audience_of(endpoint: str) -> str:
    """The push service's origin, which is what logs may name."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.hostname}"
