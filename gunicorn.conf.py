"""gunicorn settings read from the working directory: redacted access logs, eventlet's warning filtered."""

import app.green  # noqa: F401  (silences eventlet's deprecation warning before the worker imports it)

logger_class = "app.logs.RedactingGunicornLogger"
worker_connections = 4096


def on_starting(server):
    """Let each worker hold thousands of sockets."""
    from app.system import raise_open_file_limit

    raise_open_file_limit()


def post_worker_init(worker):
    """Once the worker has loaded the app: short garbage collection pauses, a stop that drops its sockets."""
    import signal

    from app import green
    from app.realtime.shutdown import drop_sockets, track_sockets
    from app.system import settle_heap

    green.make_psycopg2_green()  # the worker patched the standard library itself
    settle_heap()
    # SIGTERM starts a worker's graceful stop (the master's TERM, HUP and USR2 end in it) and
    # has no hook: its handler is extended to drop the worker's sockets (app/realtime/shutdown.py).
    worker.wsgi = track_sockets(worker.wsgi)
    green.after_signal(signal.SIGTERM, drop_sockets)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn had it: requests are not interrupted


def worker_exit(server, worker):
    """After a worker's last request: the pushes it started finish before it exits."""
    import sys

    from app.push.setup import finish_pending_pushes

    module = sys.modules.get("wsgi")
    if module is not None:
        finish_pending_pushes(module.app)


# gunicorn 25's control socket defaults to one path per user, which several
# processes on one host would share; this service does not use it.
control_socket_disable = True
