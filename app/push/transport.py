"""The HTTP connection pool pushes go out through; in production its connections must
reach a public address, whatever name resolved to it (checked on the socket, so a DNS
answer that changes between checks cannot slip through)."""

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from app.push.endpoints import is_public_address


def _checked(connection: HTTPConnection, sock: object) -> object:
    peer = sock.getpeername()[0]  # type: ignore[attr-defined]
    if not is_public_address(peer):
        sock.close()  # type: ignore[attr-defined]
        raise NewConnectionError(connection, f"refused to connect to non-public address {peer}")
    return sock


class _PublicOnly:
    """Checks the peer of each new socket (before TLS, before any byte of the request)."""

    def _new_conn(self):  # type: ignore[no-untyped-def]
        return _checked(self, super()._new_conn())  # type: ignore[misc, arg-type]


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


def make_pool(allow_local: bool, pool_size: int) -> urllib3.PoolManager:
    """Connections kept per push service (urllib3, without requests' per-call overhead): no
    retries, no redirects, no proxies from the environment; public addresses only unless
    `allow_local`."""
    pool = urllib3.PoolManager(num_pools=16, maxsize=pool_size, block=False, retries=False)
    if not allow_local:
        pool.pool_classes_by_scheme = {"http": _PublicHTTPConnectionPool, "https": _PublicHTTPSConnectionPool}
    return pool
