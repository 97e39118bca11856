"""Events a service produced; the caller publishes them once the transaction has committed."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One realtime event for the sockets of some users."""

    name: str
    payload: dict[str, Any]
    user_ids: tuple[str, ...] = field(default_factory=tuple)
