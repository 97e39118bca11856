"""The one list of server log lines that mean a bug, and how a log is searched for them."""

# Lines in a server's output (gunicorn, `python wsgi.py`, the app's logs, the access log)
# that always mean a bug or a hang on the server side.
LOG_ALARMS = (
    "Traceback",
    "unhandled error",  # app/api/errors.py: an exception no handler knew
    "Exception in",  # a green thread or a Socket.IO handler died
    "WORKER TIMEOUT",
    "deadlock detected",
    "dependency unavailable",  # answered 503: expected only by tests that break a dependency
    '" 500 ',  # a 500 in the access log
    "Second simultaneous",  # eventlet: two green threads waiting on one descriptor (app/green.py)
)


def alarm_line_numbers(text: str, allowing: tuple[str, ...] = ()) -> list[int]:
    """Numbers of the lines with an alarm (other than those `allowing` names)."""
    alarms = tuple(alarm for alarm in LOG_ALARMS if alarm not in allowing)
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        if any(alarm in line for alarm in alarms):
            found.append(number)
    return found


def alarm_report(text: str, numbers: list[int], context_lines: int = 40, most: int = 3) -> str:
    """The first alarms of a log, each with the lines that follow it (a trace's frames)."""
    lines = text.splitlines()
    return "\n---\n".join("\n".join(lines[n : n + context_lines])[:6000] for n in numbers[:most])
