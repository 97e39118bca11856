"""Failed-login and registration throttles on the rate-limit storage (Redis across processes).

A login attempt takes its slot before the password is verified, atomically (an increment
in the storage), so concurrent guesses can never verify more than the limit; a success
gives its slots back. Failures count per (username, address), per address and per
username; the per-username ceiling spares the addresses the username has logged in
from, so strangers elsewhere can lock themselves out but not the owner at home.
"""

import ipaddress
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.errors import RateLimited
from app.settings import LoginLimits

# How long a successful login from an address keeps the per-username ceiling off it.
KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600


def counted_address(address: str) -> str:
    """The address as the throttles count it: an IPv6 client by its /64, which one client
    usually holds whole (counting single addresses would give it 2**64 budgets)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def wait_phrase(seconds: float) -> str:
    """`seconds` the way a person reads them: "40 seconds", "15 minutes", "2 hours" (rounded up)."""
    count, unit = max(1, math.ceil(seconds)), "second"
    for bigger, size in (("minute", 60), ("hour", 3600)):
        if count >= 60:
            count, unit = math.ceil(seconds / size), bigger
    return f"{count} {unit}{'' if count == 1 else 's'}"


@dataclass
class LoginAttempt:
    """The slots one login attempt holds: kept when it fails, given back otherwise."""

    throttle: "AuthThrottle"
    pair_key: str
    slots: list[tuple[str, int]]  # (key, window seconds) of each counter it incremented
    known_key: str

    def failed(self) -> None:
        """A wrong password: the slots stay taken until their windows end."""

    def succeeded(self) -> None:
        """The right password: the failures of this (username, address) are forgotten, the
        other slots given back, and the address is known for the username from now on."""
        storage = self.throttle.storage
        storage.clear(self.pair_key)
        self.throttle.give_back([slot for slot in self.slots if slot[0] != self.pair_key])
        storage.incr(self.known_key, KNOWN_ADDRESS_SECONDS)

    def abandoned(self) -> None:
        """Neither (the check itself failed): every slot is given back."""
        self.throttle.give_back(self.slots)


class AuthThrottle:
    """Counters of failed logins and of registrations, on one rate-limit storage."""

    def __init__(self, storage_uri: str) -> None:
        self.storage: Storage = storage_from_string(storage_uri)
        self.moving_window = MovingWindowRateLimiter(self.storage)

    def begin_login(self, username: str, address: str, limits: LoginLimits) -> LoginAttempt:
        """Take a slot of each counter for one attempt; RateLimited (taking none) when one is full.

        The per-username ceiling counts every attempt but refuses none from an address
        the username has logged in from.
        """
        user, where = username.lower(), counted_address(address)
        known_key = f"login-known/{user}/{where}"
        known = self.storage.get(known_key) > 0
        counters = [
            (parse(limits.per_username_address), True, ("login-failures-pair", user, where)),
            (parse(limits.per_address), True, ("login-failures-address", where)),
            (parse(limits.per_username), not known, ("login-failures-user", user)),
        ]
        taken: list[tuple[str, int]] = []
        for item, enforced, identifiers in counters:
            key, window = item.key_for(*identifiers), item.get_expiry()
            taken.append((key, window))
            if self.storage.incr(key, window) > item.amount and enforced:
                retry_after = self.storage.get_expiry(key) - time.time()
                self.give_back(taken)
                raise RateLimited(
                    retry_after, f"Too many failed logins; try again in {wait_phrase(retry_after)}."
                )
        return LoginAttempt(self, taken[0][0], taken, known_key)

    def give_back(self, slots: list[tuple[str, int]]) -> None:
        """Undo the increments of `slots`."""
        for key, window in slots:
            self.storage.incr(key, window, amount=-1)

    def count_registration(self, address: str, limit: str | None) -> None:
        """Count one registration from `address` under `limit` (None: no limit); RateLimited when over."""
        if limit is None:
            return
        item: RateLimitItem = parse(limit)
        where = counted_address(address)
        if not self.moving_window.hit(item, "registrations", where):
            reset_at = self.moving_window.get_window_stats(item, "registrations", where).reset_time
            retry_after = reset_at - time.time()
            raise RateLimited(retry_after, f"Too many new accounts; try again in {wait_phrase(retry_after)}.")

    def reset(self) -> None:
        """Forget every count (tests and operators)."""
        self.storage.reset()
