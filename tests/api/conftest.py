"""Fixtures of the in-process API tests."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.extensions import socketio


@pytest.fixture
def connect(app: Any, client: Any) -> Iterator[Callable[..., Any]]:
    """Open Flask-SocketIO test sockets for an account (or with a raw auth payload);
    closed at the end of the test."""
    opened = []

    def open_socket(account: Any = None, auth: Any = None, **kwargs: Any) -> Any:
        auth = auth if auth is not None else ({"token": account.token} if account else None)
        sock = socketio.test_client(app, auth=auth, flask_test_client=client, **kwargs)
        opened.append(sock)
        return sock

    yield open_socket
    for sock in opened:
        if sock.is_connected():
            sock.disconnect()
