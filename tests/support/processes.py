"""Processes the harness runs: free ports, process groups, /proc readings and the flask CLI."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

TOP_LEVEL = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class CommandFailed(RuntimeError):
    """A command the harness ran (the flask CLI, a server) failed; the message has its output."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM the process group, then SIGKILL whatever of it lingers (an orphaned worker too).

    SIGTERM (gunicorn's graceful stop), not SIGINT: on SIGINT gunicorn's eventlet worker
    calls sys.exit inside a green thread and eventlet's thread pool prints that at exit.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)


def child_pids(pid: int) -> list[int]:
    """The direct children of a process (gunicorn's workers, for its master)."""
    try:
        return sorted(int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except OSError:
        return []


def rss_kib(pid: int) -> int:
    """The resident memory of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def run_flask(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`flask --app wsgi ARGS` from the repository root; raises CommandFailed if it fails."""
    command = [str(BIN / "flask"), "--app", "wsgi", *args]
    result = subprocess.run(
        command, cwd=TOP_LEVEL, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise CommandFailed(
            f"{' '.join(command)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def migrate(env: dict[str, str]) -> None:
    """`flask --app wsgi db upgrade` against the database of `env`."""
    run_flask(env, "db", "upgrade")
