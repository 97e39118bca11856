"""Everything eventlet-specific lives here, so a gevent worker could replace it.

The rest of the code asks this module to patch the standard library, to run
CPU-heavy work off the event loop and for the Socket.IO async mode; nothing
else imports eventlet.
"""

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
