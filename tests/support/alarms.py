"""The one list of server log lines that mean a bug, and how a log is searched for them."""

import sys

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
)

# eventlet (maintenance mode) reuses the file descriptor of a websocket it closed twice
# ("socket shutdown error: [Errno 9] Bad file descriptor" in gunicorn's log) while a stale
# hub listener still holds that number; a new PostgreSQL connection that gets the number
# then fails with this RuntimeError and that one socket connect is refused. It is the
# stack's bug, not the service's, and the closing note tracks it: a trace that is exactly
# this one is reported on stderr instead of failing the run.
EVENTLET_FD_REUSE = "Second simultaneous read on fileno"


def alarm_line_numbers(text: str, allowing: tuple[str, ...] = ()) -> list[int]:
    """Numbers of the lines with an alarm (other than those `allowing` names), except a
    trace whose error is eventlet's fd reuse."""
    alarms = tuple(alarm for alarm in LOG_ALARMS if alarm not in allowing)
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        if not any(alarm in line for alarm in alarms):
            continue
        if "Traceback" in line:
            end = next((n for n in range(number + 1, len(lines)) if lines[n][:1] not in (" ", "")), number)
            if EVENTLET_FD_REUSE in lines[end]:
                print(f"warning: eventlet fd reuse in a server log: {lines[end][:120]}", file=sys.stderr)
                continue
        found.append(number)
    return found


def alarm_report(text: str, numbers: list[int], context_lines: int = 40, most: int = 3) -> str:
    """The first alarms of a log, each with the lines that follow it (a trace's frames)."""
    lines = text.splitlines()
    return "\n---\n".join("\n".join(lines[n : n + context_lines])[:6000] for n in numbers[:most])
