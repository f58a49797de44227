"""How much one client may ask: command rate, failed sign-ins, open connections (pure; the
time is passed in, in seconds of a monotonic clock)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """``rate`` tokens a second up to ``burst``; each command takes one. A client that
    keeps within the rate is never refused; a burst of ``burst`` passes at once."""

    rate: float
    burst: int
    tokens: float = -1.0
    last: float | None = None

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        if self.tokens < 0:
            self.tokens = float(self.burst)

    def take(self, now: float) -> bool:
        if self.last is not None and now > self.last:
            self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.rate)
        self.last = now if self.last is None else max(self.last, now)
        if self.tokens >= 1.0 - 1e-9:   # (a client exactly at the rate: float sums fall short)
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False

    def retry_after(self) -> float:
        """Seconds until the next token."""
        return max(0.0, (1.0 - self.tokens) / self.rate)


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


@dataclass
class LoginThrottle:
    """Failed sign-ins by key (a user name, an address): ``max_failures`` in a row lock the
    key out for ``lockout_s``, doubling with each further lockout (at most 64 times); a
    success clears the key. Remembers at most ``max_keys`` keys (the oldest go first)."""

    max_failures: int = 5
    lockout_s: float = 60.0
    max_keys: int = 10_000
    _keys: OrderedDict[str, _Failures] = field(default_factory=OrderedDict, repr=False)

    def locked_for(self, key: str, now: float) -> float:
        """Seconds ``key`` is still locked out (0: it may try)."""
        f = self._keys.get(key)
        return max(0.0, f.locked_until - now) if f is not None else 0.0

    def fail(self, key: str, now: float) -> None:
        f = self._keys.pop(key, None) or _Failures()
        f.count += 1
        if f.count >= self.max_failures:
            times = min(64, 2 ** (f.count - self.max_failures))
            f.locked_until = now + self.lockout_s * times
        self._keys[key] = f
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)

    def succeed(self, key: str) -> None:
        self._keys.pop(key, None)


@dataclass
class ConnectionCap:
    """Open connections in all (checked at the handshake) and per signed-in user."""

    max_total: int
    max_per_user: int
    total: int = 0
    per_user: dict[str, int] = field(default_factory=dict)

    def full(self) -> bool:
        return self.total >= self.max_total

    def open(self) -> None:
        self.total += 1

    def close(self) -> None:
        self.total = max(0, self.total - 1)

    def add_user(self, user: str) -> bool:
        """Count one more connection of ``user``; False (not counted) when over the cap."""
        n = self.per_user.get(user, 0)
        if n >= self.max_per_user:
            return False
        self.per_user[user] = n + 1
        return True

    def remove_user(self, user: str) -> None:
        n = self.per_user.get(user, 0) - 1
        if n > 0:
            self.per_user[user] = n
        else:
            self.per_user.pop(user, None)
