"""What the live-server suites share with pytest: skipping or failing on a missing dependency,
phase reports, the `sockets` fixture.

A suite's conftest.py imports `pytest_runtest_makereport` (the hook) and the fixtures it
wants from here; that registers them for the suite.
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest

from .databases import redis_unavailable_reason
from .sockets import Sockets

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def fail_or_skip(reason: str) -> None:
    """Something a test needs is missing: skip locally; in CI (CI=true) fail the run."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true, so this fails instead of skipping)")
    pytest.skip(reason)


def require_redis() -> None:
    """Skip without the shared Redis locally; in CI fail."""
    reason = redis_unavailable_reason()
    if reason is not None:
        fail_or_skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so a fixture can tell how the test went."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def call_failed(request: pytest.FixtureRequest) -> bool:
    """Whether the test's own call failed (for a fixture's teardown; needs the hook above)."""
    report = getattr(request.node, "report_call", None)
    return report is not None and report.failed


def call_passed(request: pytest.FixtureRequest) -> bool:
    """Whether the test's own call passed (for a fixture's teardown; needs the hook above)."""
    report = getattr(request.node, "report_call", None)
    return report is not None and report.passed


@pytest.fixture
def sockets() -> Iterator[Sockets]:
    """Opens Socket.IO clients (support.sockets); closes all of them when the test ends."""
    opened = Sockets()
    yield opened
    opened.close_all()
