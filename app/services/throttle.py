"""Failed-login throttling per username and per address, on the rate-limit storage."""

import time

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.errors import RateLimited


class LoginThrottle:
    """Counts failed logins; once a key is over its limit, every attempt for it is refused."""

    def __init__(self, storage_uri: str, per_username: str, per_address: str) -> None:
        self.storage: Storage = storage_from_string(storage_uri)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.per_username: RateLimitItem = parse(per_username)
        self.per_address: RateLimitItem = parse(per_address)

    def _checks(self, username: str, address: str) -> list[tuple[RateLimitItem, str, str]]:
        return [
            (self.per_username, "login-fail-user", username.lower()),
            (self.per_address, "login-fail-addr", address),
        ]

    def check(self, username: str, address: str) -> None:
        """Raise RateLimited when this username or address has failed too often."""
        for item, namespace, key in self._checks(username, address):
            if not self.limiter.test(item, namespace, key):
                stats = self.limiter.get_window_stats(item, namespace, key)
                raise RateLimited(
                    stats.reset_time - time.time(),
                    "Too many failed logins; wait before trying again.",
                )

    def record_failure(self, username: str, address: str) -> None:
        """Count one failed attempt against the username and the address."""
        for item, namespace, key in self._checks(username, address):
            self.limiter.hit(item, namespace, key)

    def reset(self) -> None:
        """Forget every count (tests and operators)."""
        self.storage.reset()
