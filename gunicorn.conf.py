"""gunicorn settings read from the working directory: redacted access logs, eventlet's warning filtered."""

import app.green  # noqa: F401  (silences eventlet's deprecation warning before the worker imports it)

logger_class = "app.logs.RedactingGunicornLogger"
worker_connections = 4096


def on_starting(server):
    """Let each worker hold thousands of sockets."""
    from app.system import raise_open_file_limit

    raise_open_file_limit()


def post_worker_init(worker):
    """Once the worker has loaded the app, keep garbage collection pauses short."""
    from app.system import settle_heap

    settle_heap()


# gunicorn 25's control socket defaults to one path per user, which several
# processes on one host would share; this service does not use it.
control_socket_disable = True
