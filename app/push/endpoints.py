"""Which push endpoints a subscription may name: the service must not be made to post
to the server's own network (an SSRF through a forged subscription)."""

import ipaddress
from urllib.parse import urlsplit

MAX_ENDPOINT_LENGTH = 2048
LOCAL_NAMES = ("localhost", "localhost.localdomain")


def is_public_address(address: str) -> bool:
    """Whether an IP address is globally routable (not loopback, private, link-local...)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def endpoint_problem(endpoint: str, allow_local: bool) -> str | None:
    """Why `endpoint` cannot be a push endpoint, or None when it can.

    Always: an absolute http(s) URL with a host and no user name or password. Unless
    `allow_local` (development, tests): https only, and not a loopback, private or
    link-local address or a local name. Names are checked again when connecting
    (app.push.transport), so a name that resolves to a private address is refused there.
    """
    if len(endpoint) > MAX_ENDPOINT_LENGTH:
        return f"must be at most {MAX_ENDPOINT_LENGTH} characters"
    if not endpoint.isascii() or any(char.isspace() or ord(char) < 32 for char in endpoint):
        return "must be a URL of printable ASCII characters"
    try:
        parts = urlsplit(endpoint)
        host, _port = parts.hostname, parts.port
    except ValueError:
        return "must be a valid URL"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if allow_local:
        return None
    if parts.scheme != "https":
        return "must be an https URL"
    if _is_ip_literal(host) and not is_public_address(host):
        return "must not point at a private, loopback or link-local address"
    if host.rstrip(".") in LOCAL_NAMES or host.rstrip(".").endswith((".localhost", ".local", ".internal")):
        return "must not point at a local host name"
    return None


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True
