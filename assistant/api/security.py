"""API keys (stored only as sha256 digests, compared in constant time) and a per-client token-bucket rate limit."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return "gw_" + secrets.token_urlsafe(24)


class KeyRing:
    """The admitted keys' digests. `check` hashes the presented key and compares it with every digest."""

    def __init__(self, digests: list[str]) -> None:
        self.digests = [d.strip().lower() for d in digests if d.strip()]

    def check(self, key: str | None) -> bool:
        if not key:
            return False
        digest = hash_key(key)
        ok = False
        for known in self.digests:  # no early exit: the time taken does not say which digest matched
            ok |= hmac.compare_digest(digest, known)
        return ok


class RateLimiter:
    """Token bucket per client: `per_minute` sustained, `burst` at once. Bounded: idle clients are forgotten."""

    def __init__(self, per_minute: int, burst: int, max_clients: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(burst, 1))
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str) -> tuple[bool, float]:
        """(allowed, seconds until the next request would be allowed)."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        wait = 0.0 if allowed or self.rate <= 0 else (1.0 - tokens) / self.rate
        return allowed, wait
