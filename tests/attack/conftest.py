"""Fixtures of the attack, fuzz and fault tests (the helpers live in attack_support.py).

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
from attack_support import DEFAULT_BUDGET, Books, Launcher, PrivatePostgres, PrivateRedis, Sockets


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
def private_redis(tmp_path: Path, launcher: "Launcher") -> Callable[[str], PrivateRedis]:
    """Starts private redis-servers for one test; killed after the test's servers stopped."""

    def make(label: str = "redis") -> PrivateRedis:
        instance = PrivateRedis(tmp_path, label)
        launcher.cleanups.append(instance.stop)
        instance.start()
        return instance

    return make


@pytest.fixture
def private_postgres(launcher: "Launcher") -> PrivatePostgres:
    """A private PostgreSQL cluster, started; stopped after the test's servers and books check."""
    cluster = PrivatePostgres()
    cluster.init()
    launcher.cleanups.append(cluster.stop)
    cluster.start()
    return cluster


@pytest.fixture
def launcher(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Launcher]:
    """Starts servers for one test; at its end checks their books and logs, then stops them."""
    started = Launcher(tmp_path, request)
    try:
        yield started
        report = getattr(request.node, "report_call", None)
        if report is not None and report.passed:
            for engine in started.engines.values():
                Books(engine).check()
    finally:
        started.stop_all()


@pytest.fixture(scope="module")
def module_launcher(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Launcher]:
    """Starts servers shared by the tests of one module; stops them after the module."""
    started = Launcher(tmp_path_factory.mktemp("attack"), request)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so a fixture can tell whether the test passed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def sockets() -> Iterator[Sockets]:
    opened = Sockets()
    yield opened
    opened.close_all()
