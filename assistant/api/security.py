"""API keys (stored only as sha256 digests, compared in constant time), a per-client token-bucket rate limit, and
the headers that keep the app's own pages (the console, /docs) to their own scripts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
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


def page_headers(page: str, inline_styles: bool = False, workers: bool = False) -> dict[str, str]:
    """A page that may not be framed (clickjacking) and runs only scripts from this server (an inline script by
    its hash), talking to this server only. `inline_styles` for pages whose libraries style elements inline (Swagger
    UI, ReDoc); `workers` for ReDoc's blob: web workers."""
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(x.encode()).digest()).decode()}'" for x in scripts)
    styles = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    policy = (f"default-src 'self'; script-src 'self'{hashes}; style-src {styles}; connect-src 'self'; "
              "img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    if workers:
        policy += "; worker-src 'self' blob:"
    return {"Content-Security-Policy": policy, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer"}
