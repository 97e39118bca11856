"""HTTP sessions for talking to push services; in production they refuse to connect to
any address that is not public, whatever name resolved to it (checked on the socket,
so a DNS answer that changes between checks cannot slip through)."""

import requests
from requests.adapters import HTTPAdapter
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


class _PublicHTTPConnection(HTTPConnection):
    def _new_conn(self):  # type: ignore[no-untyped-def]
        return _checked(self, super()._new_conn())


class _PublicHTTPSConnection(HTTPSConnection):
    def _new_conn(self):  # type: ignore[no-untyped-def]
        return _checked(self, super()._new_conn())


class _PublicHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class PublicOnlyAdapter(HTTPAdapter):
    """A requests adapter whose connections must reach a public address."""

    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PublicHTTPConnectionPool,
            "https": _PublicHTTPSConnectionPool,
        }


def make_session(allow_local: bool, pool_size: int) -> requests.Session:
    """A session for push requests: no redirects followed, no proxies from the environment,
    connections kept per push service; public addresses only unless `allow_local`."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = 0
    adapter = (HTTPAdapter if allow_local else PublicOnlyAdapter)(
        pool_connections=8, pool_maxsize=pool_size, max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
