"""Process limits for a server that holds many sockets."""

import resource


def raise_open_file_limit(target: int = 65536) -> int:
    """Raise the soft limit on open files towards `target` (bounded by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = target if hard == resource.RLIM_INFINITY else min(target, hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        return wanted
    return soft
