"""Many requests to a live server at once, each answer kept as an Outcome."""

import contextlib
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass(frozen=True)
class Outcome:
    """One request of a burst: its status (0 when the connection failed), body, headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""


def outcome_of(call: Callable[[], requests.Response]) -> Outcome:
    """Make one request; its outcome (a failed connection too)."""
    try:
        response = call()
    except requests.RequestException as error:
        return Outcome(0, None, {}, f"{error.__class__.__name__}: {error}")
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return Outcome(response.status_code, body, dict(response.headers))


def burst(
    calls: list[Callable[[], requests.Response]], threads: int | None = None, timeout: float = 60
) -> list[Outcome]:
    """Fire the calls at once from a thread pool (a barrier releases them together)."""
    count = min(threads or len(calls), len(calls))
    barrier = threading.Barrier(count, timeout=30)

    def fire(call: Callable[[], requests.Response]) -> Outcome:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return outcome_of(call)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(fire, call) for call in calls]
        return [future.result(timeout=timeout) for future in futures]


def statuses(outcomes: list[Outcome]) -> Counter[int]:
    """How many requests answered each status."""
    return Counter(outcome.status for outcome in outcomes)
