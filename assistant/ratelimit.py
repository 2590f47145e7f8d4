"""Per-client rate limits: a token bucket per client, per process (`RateLimiter`) or shared by every process in
Redis (`SharedRateLimiter`). Neutral: the HTTP API, the front desk and the channels all count against it."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Limiter(Protocol):
    def allow(self, client: str) -> tuple[bool, float]:
        """(allowed, seconds until the next request would be allowed); an allowed request takes a token."""
        ...


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


# KEYS[1] the client's bucket; ARGV rate (tokens a second), burst, ttl (s). Redis's clock, so that hosts whose
# clocks differ still refill one bucket alike. Returns {allowed (0/1), tokens left (a string: Lua numbers come back
# truncated to integers)}.
TOKEN_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(b[1]), tonumber(b[2])
if tokens == nil or at == nil then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {allowed, tostring(tokens)}
"""


class SharedRateLimiter:
    """The same token bucket kept in Redis, so that every process of a deployment counts against one bucket per
    client: one Lua script reads, refills, takes and writes it atomically. A bucket's key is a digest of the client
    (no API key, address or openid in Redis) under `prefix`, and expires once the bucket would be full again.

    When Redis fails the limiter falls back to this process's own buckets for `retry_s` and logs a warning: a
    Redis outage neither turns every resident away (closed) nor lifts the limit (open); each process limits as
    it did before buckets were shared."""

    def __init__(self, client: Any, prefix: str, per_minute: int, burst: int, retry_s: float = 5.0) -> None:
        self.local = RateLimiter(per_minute, burst)
        self.rate, self.burst = self.local.rate, self.local.burst
        self.prefix = prefix
        self.ttl = math.ceil(self.burst / self.rate) + 1 if self.rate > 0 else 86400
        self.retry_s = retry_s
        self.script = client.register_script(TOKEN_BUCKET)
        self._down_until: float | None = None  # while Redis is given a rest: the monotonic time to try it again

    def allow(self, client: str) -> tuple[bool, float]:
        import redis

        down_until = self._down_until
        if down_until is not None and time.monotonic() < down_until:
            return self.local.allow(client)
        key = self.prefix + hashlib.sha256(client.encode("utf-8")).hexdigest()[:32]
        try:
            allowed, left = self.script(keys=[key], args=[self.rate, self.burst, self.ttl])
        except redis.RedisError as exc:
            logger.warning("rate limit: Redis unavailable (%s); buckets are per process for %g s", exc, self.retry_s)
            self._down_until = time.monotonic() + self.retry_s
            return self.local.allow(client)
        if down_until is not None:
            logger.warning("rate limit: Redis is back; buckets are shared again")
            self._down_until = None
        tokens = float(left)
        wait = 0.0 if allowed or self.rate <= 0 else (1.0 - tokens) / self.rate
        return bool(allowed), wait
