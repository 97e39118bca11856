"""Everything eventlet-specific lives here, so a gevent worker could replace it.

The rest of the code asks this module to patch the standard library, to run
CPU-heavy work off the event loop, to start one-shot work from a signal, to stop
the development server and for the Socket.IO async mode; nothing else imports
eventlet.
"""

import signal
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

ASYNC_MODE = "eventlet"

# eventlet announces its maintenance mode with a warning on import; we chose it
# knowingly (gunicorn -k eventlet), so that warning is silenced here (and, because pytest
# resets filters around each test, in pyproject.toml's filterwarnings for the tests).
warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

T = TypeVar("T")


def monkey_patch() -> None:
    """Make the standard library cooperative; call before importing anything else."""
    import eventlet

    eventlet.monkey_patch()
    make_psycopg2_green()


def make_psycopg2_green() -> None:
    """Wait for psycopg2 through the hub, telling the hub of each new connection's socket.

    eventlet's own sockets tell the hub when a file descriptor is opened (notify_opened),
    which drops any listener a closed socket left on that number. psycopg2 opens its
    sockets in C, so eventlet's stock wait callback never does: a connection that got the
    number of a websocket closed under a waiting reader then failed its first wait with
    "Second simultaneous read on fileno N". This callback announces the descriptor while
    the connection is being set up, as eventlet does for its own sockets. monkey_patch
    installs it; gunicorn's eventlet worker patches by itself, so its workers call this.
    """
    import psycopg2
    from eventlet import hubs
    from psycopg2 import extensions

    def wait(connection: Any, timeout: Any = None) -> None:
        connecting = connection.status == extensions.STATUS_SETUP
        announced = None
        while True:
            state = connection.poll()
            if state == extensions.POLL_OK:
                return
            descriptor = connection.fileno()
            if connecting and descriptor != announced:  # libpq may try several addresses
                hubs.notify_opened(descriptor)
                announced = descriptor
            if state == extensions.POLL_READ:
                hubs.trampoline(descriptor, read=True)
            elif state == extensions.POLL_WRITE:
                hubs.trampoline(descriptor, write=True)
            else:
                raise psycopg2.OperationalError(f"Bad result from poll: {state!r}")

    extensions.set_wait_callback(wait)


def is_patched() -> bool:
    """Whether the process runs under eventlet's patched standard library."""
    try:
        from eventlet import patcher
    except ImportError:  # pragma: no cover - eventlet is a hard dependency
        return False
    return bool(patcher.is_monkey_patched("socket"))


def run_blocking(func: Callable[..., T], *args: Any) -> T:
    """Run CPU-bound `func` in a native thread so other green threads keep running."""
    if is_patched():
        from eventlet import tpool

        return tpool.execute(func, *args)
    return func(*args)


def pause() -> None:
    """Let the other green threads run. A loop that reads a socket whose data is already
    there never waits, so it never yields on its own (an upload streaming over a fast
    link would hold the process until its last byte)."""
    if is_patched():
        import eventlet

        eventlet.sleep(0)


def bounded_semaphore(limit: int) -> Any:
    """At most `limit` holders at once; a waiter blocks only itself (its green thread when
    patched, its thread otherwise), never the event loop."""
    if is_patched():
        from eventlet.semaphore import BoundedSemaphore

        return BoundedSemaphore(limit)
    return threading.BoundedSemaphore(limit)


def spawn(work: Callable[[], object]) -> None:
    """Start one-shot `work` in a green thread of its own (at once when unpatched)."""
    if not is_patched():
        work()
        return
    import eventlet

    eventlet.spawn_n(work)


def start_detached(work: Callable[[], object]) -> None:
    """Start one-shot `work` off the caller's path: a green thread when patched, a daemon
    thread otherwise (the development server and tests), so the caller never waits for it."""
    if is_patched():
        import eventlet

        eventlet.spawn_n(work)
        return
    threading.Thread(target=work, daemon=True).start()


def after_signal(signum: int, work: Callable[[], object]) -> None:
    """Keep the handler of `signum` (gunicorn's) and start `work` in a green thread after it.

    A handler may run inside eventlet's hub, where nothing may wait on sockets: hence the
    green thread.
    """
    previous = signal.getsignal(signum)

    def handler(number: int, frame: Any) -> None:
        if callable(previous):
            previous(number, frame)
        spawn(work)

    signal.signal(signum, handler)


def stop_serving_on_signals(before_waiting: Callable[[], object]) -> None:
    """Make SIGTERM and SIGINT stop eventlet's WSGI server gracefully; a second one stops at once.

    Call it from the green thread that will run `eventlet.wsgi.server`: the signal ends its
    accept loop, then `before_waiting()` runs while the server waits for its requests to end.
    """
    import eventlet
    import greenlet
    from eventlet import hubs, patcher

    os = patcher.original("os")  # the hub reads the pipe: the green os.read would wait on the hub

    server = greenlet.getcurrent()
    signals = (signal.SIGTERM, signal.SIGINT)

    def stop() -> None:
        eventlet.kill(server, SystemExit)  # eventlet.wsgi.server stops accepting, then waits
        before_waiting()

    def handler(number: int, frame: Any) -> None:
        for each in signals:
            signal.signal(each, signal.SIG_DFL)
        eventlet.spawn_n(stop)

    for each in signals:
        signal.signal(each, handler)
    # A signal also writes to this pipe, which wakes the hub at once: without it the stop would
    # wait for the hub's next timer or I/O (seconds when idle).
    wake_read, wake_write = os.pipe()
    for end in (wake_read, wake_write):
        os.set_blocking(end, False)
    hub = hubs.get_hub()
    hub.add(hub.READ, wake_read, lambda fileno: os.read(fileno, 64), lambda *_: None, lambda *_: None)
    signal.set_wakeup_fd(wake_write)
