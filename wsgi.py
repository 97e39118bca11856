"""Entry points.

gunicorn serves `wsgi:app` (its eventlet worker patches the standard library itself):
    gunicorn -k eventlet -w 1 -b 0.0.0.0:8000 wsgi:app
`python wsgi.py [--host H] [--port P]` serves through Flask-SocketIO's eventlet server.
"""

if __name__ == "__main__":
    from app import green

    green.monkey_patch()

from app import create_app

app = create_app()


def main() -> None:
    """Serve the app with WebSocket support (what `make run` uses)."""
    import argparse
    import sys

    from app import green
    from app.extensions import socketio
    from app.logs import RedactingStream
    from app.push.setup import finish_pending_pushes
    from app.realtime.shutdown import drop_sockets, track_sockets
    from app.system import raise_open_file_limit, settle_heap

    parser = argparse.ArgumentParser(description="Serve the messaging service.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    raise_open_file_limit()
    settle_heap()
    # SIGTERM or Ctrl+C: stop accepting, drop the sockets (their clients reconnect), finish requests.
    app.wsgi_app = track_sockets(app.wsgi_app)  # type: ignore[method-assign]
    green.stop_serving_on_signals(drop_sockets)
    print(f"Serving on http://{args.host}:{args.port}", flush=True)
    socketio.run(
        app, host=args.host, port=args.port, log_output=True, log=RedactingStream(sys.stderr), max_size=4096
    )
    finish_pending_pushes(app)  # the server stopped: its pushes end before the process does


if __name__ == "__main__":
    main()
