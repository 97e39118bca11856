"""Fixtures of the attack, fuzz and fault tests (attack_support.py and tests/support hold the helpers).

Every server is started the way operators start it (gunicorn -k eventlet, APP_ENV=production)
on a fresh migrated database; a dependency a test kills or restarts is private to that test.
Each test runs under a time budget and, when it passed, ends with the books of every database
it used checked (attack_support.Books.check).
"""

import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from attack_support import DEFAULT_BUDGET, AttackLauncher, Books, PrivatePostgres, PrivateRedis
from support.pytest_live import (  # noqa: F401 (registers the hook and the fixture)
    call_passed,
    pytest_runtest_makereport,
    sockets,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "budget(seconds): the most wall time an attack test may take")


class BudgetExceeded(BaseException):
    """Raised when a test ran past its budget (a BaseException: no `except Exception` eats it)."""


@pytest.fixture(autouse=True)
def time_budget(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that runs past its budget instead of letting it hang the run."""
    marker = request.node.get_closest_marker("budget")
    seconds = float(marker.args[0]) if marker else DEFAULT_BUDGET
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise BudgetExceeded(f"{request.node.name} ran past its budget of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def private_redis(tmp_path: Path, launcher: AttackLauncher) -> Callable[[str], PrivateRedis]:
    """Starts private redis-servers for one test; killed after the test's servers stopped."""

    def make(label: str = "redis") -> PrivateRedis:
        instance = PrivateRedis(tmp_path, label)
        launcher.cleanups.append(instance.stop)
        instance.start()
        return instance

    return make


@pytest.fixture
def private_postgres(launcher: AttackLauncher) -> PrivatePostgres:
    """A private PostgreSQL cluster, started; stopped after the test's servers and books check."""
    cluster = PrivatePostgres()
    cluster.init()
    launcher.cleanups.append(cluster.stop)
    cluster.start()
    return cluster


@pytest.fixture
def launcher(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AttackLauncher]:
    """Starts servers for one test; at its end checks their books, then stops them."""
    started = AttackLauncher(tmp_path, request)
    try:
        yield started
        if call_passed(request):
            for engine in started.engines.values():
                Books(engine).check()
    finally:
        started.stop_all()


@pytest.fixture(scope="module")
def module_launcher(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AttackLauncher]:
    """Starts servers shared by the tests of one module; stops them after the module."""
    started = AttackLauncher(tmp_path_factory.mktemp("attack"), request)
    try:
        yield started
    finally:
        started.stop_all()
