"""A server that stops gracefully drops its sockets at once, so their clients reconnect to a live one.

A stopping worker finishes its requests, but a websocket is a request that lasts: it
would hold the worker for the whole graceful timeout while its client, still showing
"Connected", hears nothing that other processes or the new worker deliver. So the stop
ends this process's Socket.IO transports as a lost network would, without a Socket.IO
disconnect packet (which the web UI reads as "logged out"), and Socket.IO requests that
still reach the stopping process are answered 503: clients reconnect to a live server at
once and catch up.

A websocket is ended by shutting its connection down: its reader sees the end, and
Engine.IO closes the session and runs the disconnect handlers as for a client that left.
(Closing the session from here instead would close the connection under the reader,
which eventlet never wakes: the request, and the stop, would wait for the timeout.)
"""

import contextlib
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

from app.extensions import socketio

log = logging.getLogger(__name__)

SOCKET_IO_PATH = "/socket.io/"  # API.md; Flask-SocketIO's default
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_stopping = False
_websockets: set[Any] = set()  # the connections of this process's websocket requests


def drop_sockets() -> None:
    """Start the stop: end every Socket.IO transport of this process."""
    global _stopping
    _stopping = True
    connections = list(_websockets)
    for connection in connections:
        with contextlib.suppress(OSError):  # the client may have gone already
            connection.shutdown(socket.SHUT_RDWR)
    eio = socketio.server.eio
    polling = [session for session in list(eio.sockets.values()) if not session.upgraded]
    for session in polling:
        session.close(wait=False, abort=True, reason=eio.reason.SERVER_DISCONNECT)
    log.info("graceful stop: dropped %d websockets and %d polling sockets", len(connections), len(polling))


def _connection(environ: dict[str, Any]) -> Any:
    """The client connection of a request under gunicorn or eventlet's WSGI server."""
    if "gunicorn.socket" in environ:
        return environ["gunicorn.socket"]
    return environ["eventlet.input"].get_socket() if "eventlet.input" in environ else None


def track_sockets(wsgi_app: WsgiApp) -> WsgiApp:
    """`wsgi_app`, knowing its websocket connections and answering 503 to Socket.IO once stopping."""

    def tracked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith(SOCKET_IO_PATH):
            return wsgi_app(environ, start_response)
        if _stopping:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "1")])
            return [b"This server is stopping; connect again.\n"]
        is_websocket = environ.get("HTTP_UPGRADE", "").lower() == "websocket"
        connection = _connection(environ) if is_websocket else None
        if connection is None:
            return wsgi_app(environ, start_response)
        _websockets.add(connection)
        try:  # a websocket's request lasts as long as the websocket
            return wsgi_app(environ, start_response)
        finally:
            _websockets.discard(connection)

    return tracked
