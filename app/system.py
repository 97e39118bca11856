"""Process settings for a server that holds many sockets: open files, garbage collection."""

import gc
import resource


def raise_open_file_limit(target: int = 65536) -> int:
    """Raise the soft limit on open files towards `target` (bounded by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = target if hard == resource.RLIM_INFINITY else min(target, hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        return wanted
    return soft


# Collect the youngest generation every 20,000 net allocations instead of 700, so the
# full collections that scan every tracked object come about 30 times less often.
GC_THRESHOLDS = (20_000, 20, 20)


def settle_heap() -> None:
    """Keep the garbage collector's full passes short and rare, once the app is loaded.

    A full collection scans every tracked object: with the app's ~190,000 start-up
    objects (modules, SQLAlchemy, pydantic) it stalled the worker 100-125 ms, every
    half minute under load (bench/README.md). gc.freeze() moves the start-up objects
    out of the collector's sight for good, and GC_THRESHOLDS makes full passes rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
