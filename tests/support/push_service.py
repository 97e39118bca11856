"""A push service on loopback, playing FCM or Mozilla's autopush for the tests.

It checks each push the way a real one does: the VAPID token (ES256 against the key
in the `Authorization: vapid t=...,k=...` header, which must be the server's; `aud` the
endpoint's origin; `exp` in the future and at most 24 h ahead; `sub` present), then
decrypts the `aes128gcm` body with the subscription's private key and auth secret, as
a browser would (http_ece, as pywebpush's own tests do), and records what arrived.
Each subscription answers as its `mode` says: 201, 404, 410, 429, 500, or (hang) 201
only once released or after `hang_seconds`; a push is recorded when it arrives.

For load (bench/push.py), `verify=False` skips the VAPID check and the decryption (a
real push service is remote: its CPU is not the server's), `keep_alive=True` answers
HTTP/1.1 and keeps connections open, as real push services do, and `backlog` lets
hundreds of pushes connect at once (socketserver listens with a backlog of 5).
"""

import base64
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

MAX_VAPID_LIFETIME = 24 * 3600
ANSWERS = {
    "ok": 201,
    "not_found": 404,
    "gone": 410,
    "too_many": 429,
    "error": 500,
    "slow_gone": 410,
    "redirect": 307,
}
SLOW_MODES = ("hang", "slow_gone")  # answer only once released or after hang_seconds


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BrowserSubscription:
    """What a browser's pushManager.subscribe() makes: an endpoint and the keys to encrypt to."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    mode: str = "ok"

    @classmethod
    def at(cls, endpoint: str, mode: str = "ok") -> "BrowserSubscription":
        """A browser subscription with fresh keys at any endpoint (no service behind it)."""
        return cls(endpoint, ec.generate_private_key(ec.SECP256R1()), os.urandom(16), mode)

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def as_json(self) -> dict[str, Any]:
        """PushSubscription.toJSON()."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        }


@dataclass
class Delivery:
    """One push as it arrived: the answer given, or why it was refused."""

    endpoint: str
    headers: dict[str, str]
    status: int
    payload: dict[str, Any] | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


class FakePushService:
    """Serves push endpoints on 127.0.0.1 in a thread; a context manager."""

    def __init__(
        self,
        vapid_public_key: str | None = None,
        *,
        verify: bool = True,
        keep_alive: bool = False,
        backlog: int = ThreadingHTTPServer.request_queue_size,
    ) -> None:
        self.vapid_public_key = vapid_public_key  # None: any key (its signature still checked)
        self.verify = verify  # False: pushes are recorded and answered unchecked (for load)
        self.keep_alive = keep_alive  # True: HTTP/1.1, connections kept open between pushes
        self.answered = 0  # pushes answered so far (a hanging one counts once it answered)
        self.subscriptions: dict[str, BrowserSubscription] = {}
        self.deliveries: list[Delivery] = []
        self.arrived = threading.Condition()
        self.released = threading.Event()
        self.hang_seconds = 30.0  # a hanging subscription answers after this, or when released
        server_class = type("PushServer", (ThreadingHTTPServer,), {"request_queue_size": backlog})
        self.server = server_class(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> "FakePushService":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def subscribe(self, mode: str = "ok") -> BrowserSubscription:
        """A new browser subscription at this service, answering as `mode` says."""
        endpoint = f"{self.url}/push/{secrets.token_urlsafe(24)}"
        subscription = BrowserSubscription(
            endpoint, ec.generate_private_key(ec.SECP256R1()), os.urandom(16), mode
        )
        self.subscriptions[endpoint] = subscription
        return subscription

    def release(self) -> None:
        """Let hanging requests answer (201)."""
        self.released.set()

    def wait_for(self, count: int, timeout: float = 10) -> list[Delivery]:
        """The first `count` deliveries, once they arrived (AssertionError after `timeout`)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.deliveries) >= count, timeout):
                raise AssertionError(f"{len(self.deliveries)} pushes arrived, expected {count}")
            return list(self.deliveries[:count])

    def to(self, subscription: BrowserSubscription) -> list[Delivery]:
        """The deliveries that reached one subscription."""
        with self.arrived:
            return [d for d in self.deliveries if d.endpoint == subscription.endpoint]

    def _record(self, delivery: Delivery) -> None:
        with self.arrived:
            self.deliveries.append(delivery)
            self.arrived.notify_all()

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> Delivery:
        """Check and decrypt one push; the delivery to record and answer."""
        endpoint = self.url + path
        subscription = self.subscriptions.get(endpoint)
        if subscription is None:
            return Delivery(endpoint, headers, 404, problem="unknown endpoint")
        if not self.verify:
            return Delivery(endpoint, headers, ANSWERS.get(subscription.mode, 201))
        try:
            claims = self.verify_vapid(headers.get("authorization", ""))
            if headers.get("content-encoding") != "aes128gcm":
                raise ValueError(f"Content-Encoding is {headers.get('content-encoding')!r}")
            plaintext = http_ece.decrypt(
                body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth_secret,
                version="aes128gcm",
            )
            payload = json.loads(plaintext)
        except Exception as error:  # a push the service refuses: recorded for the test to see
            return Delivery(endpoint, headers, 400, problem=f"{error.__class__.__name__}: {error}")
        return Delivery(endpoint, headers, ANSWERS.get(subscription.mode, 201), payload, claims)

    def verify_vapid(self, authorization: str) -> dict[str, Any]:
        """The claims of a valid VAPID token (RFC 8292); ValueError otherwise."""
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"Authorization scheme is {scheme!r}, not vapid")
        values = dict(part.strip().split("=", 1) for part in params.split(","))
        token, key = values.get("t", ""), values.get("k", "")
        if self.vapid_public_key is not None and key != self.vapid_public_key:
            raise ValueError("signed with another key than the server's")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        claims = jwt.decode(
            token, public, algorithms=["ES256"], audience=self.url, options={"require": ["exp", "aud", "sub"]}
        )
        if claims["exp"] > time.time() + MAX_VAPID_LIFETIME:
            raise ValueError("exp is more than 24 hours ahead")
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            raise ValueError(f"sub is {claims['sub']!r}")
        return claims

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if service.keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                delivery = service.receive(self.path, headers, body)
                service._record(delivery)  # on arrival: a hanging answer comes later
                subscription = service.subscriptions.get(delivery.endpoint)
                if subscription is not None and subscription.mode in SLOW_MODES:
                    service.released.wait(service.hang_seconds)
                self.send_response(delivery.status)
                if delivery.status == 429:
                    self.send_header("Retry-After", "60")
                if delivery.status == 307:  # to another endpoint of this service: never followed
                    self.send_header("Location", f"{service.url}/push/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                with service.arrived:
                    service.answered += 1

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler
