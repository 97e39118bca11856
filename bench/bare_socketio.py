"""A bare python-socketio server (no Flask, no database): the memory floor per socket.

    gunicorn -k eventlet -w 1 bench.bare_socketio:app

It accepts any socket that sends an auth payload and puts it in a room of its own,
as the service does, so the memory benchmark can tell the stack's cost per idle
socket from the service's.
"""

import socketio

sio = socketio.Server(async_mode="eventlet", cors_allowed_origins=None)


@sio.event
def connect(sid, environ, auth=None):
    """Accept the socket and join a personal room (like the service's user room)."""
    token = auth.get("token") if isinstance(auth, dict) else None
    sio.enter_room(sid, f"user:{token or sid}")


def _health(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"status": "ok"}']


app = socketio.WSGIApp(sio, _health)
