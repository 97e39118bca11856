"""The `python wsgi.py` server's log: tokens redacted, a client that went away is one line."""

import io

from app.logs import RedactingStream

BROKEN_PIPE = """Traceback (most recent call last):
  File "eventlet/wsgi.py", line 683, in handle_one_response
    write(b''.join(towrite))
BrokenPipeError: [Errno 32] Broken pipe
"""
SERVER_ERROR = """Traceback (most recent call last):
  File "app/api/messages.py", line 10, in send
ValueError: a bug
"""


def written(text: str) -> str:
    out = io.StringIO()
    RedactingStream(out).write(text)
    return out.getvalue()


def test_a_client_that_closed_its_connection_mid_answer_is_one_line_without_a_traceback() -> None:
    assert written(BROKEN_PIPE) == (
        "the client closed its connection before its answer was written (BrokenPipeError)\n"
    )
    reset = BROKEN_PIPE.replace("BrokenPipeError: [Errno 32] Broken pipe", "ConnectionResetError: x")
    assert "Traceback" not in written(reset)


def test_any_other_traceback_is_kept_whole() -> None:
    assert written(SERVER_ERROR) == SERVER_ERROR


def test_tokens_in_access_lines_are_redacted() -> None:
    line = '127.0.0.1 - - "GET /socket.io/?EIO=4&token=eyJhbGciOi.secret HTTP/1.1" 200\n'
    assert written(line) == '127.0.0.1 - - "GET /socket.io/?EIO=4&token=[redacted] HTTP/1.1" 200\n'
