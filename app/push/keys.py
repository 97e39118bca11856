"""VAPID keys: the application server's identity towards push services (RFC 8292)."""

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

DEVELOPMENT_KEY_FILE = "vapid-private-key.pem"
DEVELOPMENT_SUBJECT = "mailto:operator@example.com"


class VapidKeyError(ValueError):
    """A VAPID_PRIVATE_KEY that is not a P-256 private key."""


def b64url(data: bytes) -> str:
    """Base64url without padding, as Web Push writes keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; ValueError when it is not base64url."""
    if not text or any(char not in _B64URL for char in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")


def load_vapid(private_key: str) -> Vapid:
    """The VAPID signer of a private key given as PEM, base64url DER or base64url raw 32 bytes."""
    text = private_key.strip()
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = b64url_decode(text.replace("\n", ""))
            key = (
                ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
                if len(raw) == 32
                else serialization.load_der_private_key(raw, password=None)
            )
    except (ValueError, TypeError) as error:
        raise VapidKeyError(f"VAPID_PRIVATE_KEY is not a readable private key ({error})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise VapidKeyError("VAPID_PRIVATE_KEY must be an EC key on the P-256 curve")
    return Vapid(key)


def public_key(vapid: Vapid) -> str:
    """The application server key browsers subscribe with: the uncompressed point, base64url."""
    point = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)


def private_key_text(vapid: Vapid) -> str:
    """The private key as base64url raw 32 bytes: one line for an environment file."""
    return b64url(vapid.private_key.private_numbers().private_value.to_bytes(32, "big"))


def generate() -> Vapid:
    """A new key pair."""
    return Vapid(ec.generate_private_key(ec.SECP256R1()))


def development_key(instance_path: str) -> str:
    """A key pair kept under instance/ (mode 0600), so browsers stay subscribed across restarts."""
    path = Path(instance_path) / DEVELOPMENT_KEY_FILE
    if not path.exists():  # written whole under another name, then linked: never read half-written
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{DEVELOPMENT_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        draft.touch(mode=0o600)
        draft.write_bytes(generate().private_pem())
        try:
            os.link(draft, path)
        except FileExistsError:  # another process made it first: use theirs
            pass
        finally:
            draft.unlink()
    return path.read_text()


def environment_lines(vapid: Vapid) -> list[str]:
    """A key pair as lines of an environment file (the public key as a comment)."""
    return [
        f"VAPID_PRIVATE_KEY={private_key_text(vapid)}",
        f"# public (application server) key, served at GET /api/push/key: {public_key(vapid)}",
        "VAPID_SUBJECT=mailto:you@example.com  # a contact push services can reach",
    ]


if __name__ == "__main__":  # `python -m app.push.keys`: no app, no settings needed
    print("\n".join(environment_lines(generate())))
