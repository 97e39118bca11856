"""eventlet and psycopg2: a new connection never trips over a listener a closed socket left behind."""

import subprocess
import sys
import textwrap

import pytest
from support.processes import TOP_LEVEL

# A reader waits on a socket; another green thread closes it (as engine.io closes a
# websocket under its reader), so the hub keeps a listener on that descriptor number. A
# new psycopg2 connection then gets the number: its first wait must still work.
SCRIPT = textwrap.dedent(
    """
    import sys
    if sys.argv[1] == "stock":
        import eventlet
        eventlet.monkey_patch()
    else:
        from app import green
        green.monkey_patch()
    import socket
    import eventlet
    import psycopg2

    waiting, other = socket.socketpair()
    number = waiting.fileno()

    def reader():
        try:
            waiting.recv(1)
        except Exception:
            pass

    eventlet.spawn(reader)
    eventlet.sleep(0)
    waiting.close()
    connection = psycopg2.connect(sys.argv[2], connect_timeout=5)
    assert connection.fileno() == number, (connection.fileno(), number)
    cursor = connection.cursor()
    cursor.execute("SELECT 1")
    print("query ok", cursor.fetchone()[0])
    """
)


def run(mode: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, url],
        cwd=TOP_LEVEL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def postgres_url(pg_databases) -> str:
    return pg_databases.create("green").replace("postgresql+psycopg2://", "postgresql://")


def test_eventlets_stock_wait_callback_fails_where_ours_does_not(postgres_url: str) -> None:
    stock = run("stock", postgres_url)
    assert "Second simultaneous read" in stock.stderr, stock.stderr[-2000:]
    ours = run("ours", postgres_url)
    assert ours.returncode == 0, ours.stderr[-2000:]
    assert "query ok 1" in ours.stdout
