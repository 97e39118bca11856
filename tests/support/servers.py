"""Live servers, started the way operators start them: from the repository root, the virtualenv's binaries.

Kinds:

- "eventlet": `python wsgi.py --host 127.0.0.1 --port N` (what `make run` serves with);
- "gunicorn": `gunicorn -k eventlet -w N [--reuse-port] wsgi:app` (`app_module` may name
  another WSGI app, e.g. the benchmarks' `bench.wsgi_bench:app`);
- N processes on Redis: N gunicorn servers whose environment has `queue_settings(url)`
  (Launcher.start_many starts them with their boots overlapping).

Each server runs in a process group of its own with its output appended to a log
file; stop() sends SIGTERM to the group, then SIGKILL to whatever lingers.
"""

import shutil
import subprocess
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import requests
import sqlalchemy as sa

from .alarms import alarm_line_numbers, alarm_report
from .processes import (
    BIN,
    TOP_LEVEL,
    CommandFailed,
    child_pids,
    free_port,
    migrate,
    rss_kib,
    run_flask,
    stop_process_group,
)
from .rest import Account, RestClient
from .settings import server_environment

START_TIMEOUT = 60.0
KINDS = ("eventlet", "gunicorn")


class LiveServer(RestClient):
    """A server process on a port of its own, its output, and the REST client for it."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        kind: str = "gunicorn",
        workers: int = 1,
        app_module: str = "wsgi:app",
        access_log: bool = True,
        log_level: str = "info",
        port: int | None = None,
        label: str | None = None,
        keep_alive: bool = True,
        request_timeout: float = 20.0,
    ) -> None:
        assert kind in KINDS, kind
        assert kind == "gunicorn" or (workers == 1 and app_module == "wsgi:app"), (
            "python wsgi.py is one process"
        )
        self.port = port or free_port()
        super().__init__(f"http://127.0.0.1:{self.port}", keep_alive=keep_alive, timeout=request_timeout)
        self.env = env
        self.log_path = log_path
        self.kind = kind
        self.workers = workers
        self.app_module = app_module
        self.access_log = access_log
        self.log_level = log_level
        self.label = label or kind
        self.process: subprocess.Popen[bytes] | None = None
        self.clock_offset: str | None = None
        self.starts = 0

    # ---- the process

    def command(self) -> list[str]:
        """The command line that starts this server (under libfaketime when its clock is shifted)."""
        if self.kind == "eventlet":
            command = [str(BIN / "python"), "wsgi.py", "--host", "127.0.0.1", "--port", str(self.port)]
        else:
            command = [str(BIN / "gunicorn"), "-k", "eventlet", "-w", str(self.workers)]
            command += [
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                self.log_level,
                "--graceful-timeout",
                "5",
            ]
            command += ["--reuse-port"] if self.workers > 1 else []  # or one worker may take every connection
            command += ["--access-logfile", "-"] if self.access_log else []
            command.append(self.app_module)
        if self.clock_offset:
            faketime = shutil.which("faketime")
            if faketime is None:
                raise CommandFailed("libfaketime is not installed (apt-get install -y faketime)")
            command = [faketime, "-f", self.clock_offset, *command]
        return command

    def start(self, clock_offset: str | None = None, wait: bool = True) -> "LiveServer":
        """Start the server (its clock shifted by `clock_offset`, e.g. "+2h"); wait until ready if `wait`."""
        assert not self.running, f"the {self.label} server is already running"
        self.clock_offset = clock_offset
        self.starts += 1
        with open(self.log_path, "ab") as log_file:
            log_file.write(f"===== start #{self.starts} clock={clock_offset or 'real'} =====\n".encode())
            log_file.flush()
            self.process = subprocess.Popen(
                self.command(),
                cwd=TOP_LEVEL,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_until_ready()
        return self

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for /healthz to answer and every worker to be forked; CommandFailed if the server dies."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code, output = self.process.returncode, self.log()[-20000:]
                raise CommandFailed(f"the {self.label} server exited early ({code}):\n{output}")
            workers = len(self.worker_pids())
            try:
                response = requests.get(self.url + "/healthz", timeout=2)
                if (
                    response.status_code == 200
                    and response.json() == {"status": "ok"}
                    and workers >= self.workers
                ):
                    return
                last = f"{response.status_code} {response.text[:200]}; {workers} workers"
            except (requests.RequestException, ValueError) as error:
                last = repr(error)
            time.sleep(0.1)
        raise CommandFailed(
            f"the {self.label} server was not ready in {timeout}s ({last}):\n{self.log()[-20000:]}"
        )

    def stop(self) -> None:
        """Stop the process group (idempotent); close the REST connections and the database engine."""
        self.close_sessions()
        if "engine" in self.__dict__:
            self.engine.dispose()
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None

    def restart(self, clock_offset: str | None = None) -> None:
        """Stop and start again on the same port and database."""
        self.stop()
        self.start(clock_offset)

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def assert_alive(self) -> None:
        """Fail with the server's output if it has exited."""
        code = None if self.process is None else self.process.poll()
        assert code is None, f"the {self.label} server exited with {code}; output:\n{self.log()[-20000:]}"

    def worker_pids(self) -> list[int]:
        """The processes that serve requests and hold sockets: gunicorn's workers, or the server itself."""
        if self.process is None:
            return []
        return [self.process.pid] if self.kind == "eventlet" else child_pids(self.process.pid)

    def worker_pid(self) -> int:
        """The one worker's pid."""
        pids = self.worker_pids()
        assert len(pids) == 1, f"{self.label}: expected one worker, found {pids}"
        return pids[0]

    def rss_kib(self) -> int:
        """The resident memory of the one worker, in KiB."""
        return rss_kib(self.worker_pid())

    # ---- its output

    def log(self, since: int = 0) -> str:
        """What the server printed (stdout and stderr), from byte offset `since`."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(since)
                return handle.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        """The current length of the log, to read only what a test caused."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def alarms(self, since: int = 0, allowing: tuple[str, ...] = ()) -> list[str]:
        """The lines since `since` that mean a bug (support.alarms.LOG_ALARMS but those `allowing` names)."""
        lines = self.log(since).splitlines()
        return [lines[n] for n in alarm_line_numbers("\n".join(lines), allowing)]

    def assert_clean_log(self, since: int = 0, allowing: tuple[str, ...] = ()) -> None:
        """Fail if the server logged an alarm since `since`."""
        text = self.log(since)
        found = alarm_line_numbers(text, allowing)
        assert not found, f"the {self.label} server's output shows errors:\n{alarm_report(text, found)}"

    # ---- its database and operator commands

    @cached_property
    def engine(self) -> sa.Engine:
        """A small engine on the server's database, for tests that read it directly."""
        return sa.create_engine(self.env["DATABASE_URL"], pool_size=2, max_overflow=2, pool_pre_ping=True)

    def flask(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`flask --app wsgi ARGS` against the server's database (with the real clock)."""
        return run_flask(self.env, *args)

    def grant(self, who: Account, amount: int) -> None:
        """`flask points grant USER AMOUNT`, the way an operator credits a wallet."""
        self.flask("points", "grant", who.username, str(amount))


class Launcher:
    """Starts live servers in one working directory (migrating their database first); stops them all."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.servers: list[LiveServer] = []

    def environment(
        self, database_url: str, *, migrated: bool = False, **settings: str | None
    ) -> dict[str, str]:
        """A server environment on `database_url` (support.settings.server_environment); its
        database migrated unless it already is."""
        env = server_environment(database_url, self.workdir / "instance", **settings)
        if not migrated:
            migrate(env)
        return env

    def server(self, env: dict[str, str], label: str, **options: object) -> LiveServer:
        """A server not started yet (stopped with the others); options as LiveServer takes them."""
        server = LiveServer(env, self.workdir / f"{label}.log", label=label, **options)  # type: ignore[arg-type]
        self.servers.append(server)
        return server

    def start(self, env: dict[str, str], label: str, **options: object) -> LiveServer:
        """Start a server and wait until it is ready."""
        return self.server(env, label, **options).start()

    def start_many(self, servers: Sequence[LiveServer]) -> None:
        """Start several servers with their boots overlapping, then wait for each."""
        for server in servers:
            server.start(wait=False)
        for server in servers:
            server.wait_until_ready()

    def stop(self, server: LiveServer) -> None:
        """Stop one server."""
        server.stop()

    def stop_all(self) -> None:
        """Stop every server started here."""
        for server in self.servers:
            server.stop()
