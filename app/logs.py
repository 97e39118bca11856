"""Access logs that never print a socket token (`?token=` in the query string)."""

import re
from typing import Any, TextIO

from gunicorn.glogging import Logger as GunicornLogger

_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&])(?:token|access_token|jwt)=)[^&\s\"]*", re.IGNORECASE)


def redact_tokens(text: str) -> str:
    """Replace the value of any token query parameter with [redacted]."""
    return _TOKEN_IN_QUERY.sub(r"\1[redacted]", text)


# The last line of the traceback eventlet's server logs when the client closed its
# connection before the answer was written (a reload or a navigation mid-request).
_CLIENT_WENT_AWAY = ("BrokenPipeError", "ConnectionResetError")


def client_went_away(text: str) -> str | None:
    """The error's name when `text` is a traceback of a client closing its connection while
    its answer was written; None for anything else."""
    if not text.startswith("Traceback"):
        return None
    last = text.rstrip().rsplit("\n", 1)[-1]
    return next((name for name in _CLIENT_WENT_AWAY if last.startswith(name)), None)


class RedactingStream:
    """A file-like log target for eventlet's WSGI server."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        """Write a log line with tokens redacted; a client that went away mid-answer is one
        line, not a traceback (nothing on the server failed)."""
        gone = client_went_away(text)
        if gone is not None:
            text = f"the client closed its connection before its answer was written ({gone})\n"
        self.stream.write(redact_tokens(text))

    def flush(self) -> None:
        """Flush the underlying stream."""
        self.stream.flush()


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger, with tokens redacted from the request line and query string."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        """The access-log fields, redacted."""
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "q", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_tokens(atoms[key])
        return atoms
