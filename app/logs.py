"""Access logs that never print a socket token (`?token=` in the query string)."""

import re
from typing import Any, TextIO

from gunicorn.glogging import Logger as GunicornLogger

_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&])(?:token|access_token|jwt)=)[^&\s\"]*", re.IGNORECASE)


def redact_tokens(text: str) -> str:
    """Replace the value of any token query parameter with [redacted]."""
    return _TOKEN_IN_QUERY.sub(r"\1[redacted]", text)


class RedactingStream:
    """A file-like log target for eventlet's WSGI server."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        """Write a log line with tokens redacted."""
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
