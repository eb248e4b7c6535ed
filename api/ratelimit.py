"""Per-key rate limiting: a token bucket per API key.

One bucket holds ``per_minute`` tokens and refills continuously, so a key may burst up to its minute's budget and
then sustain ``per_minute`` requests per minute. Where the buckets live (:func:`make_limiter`): in process memory
(one API process, the default), in the shared PostgreSQL database (``SUPPORTBOT_DATABASE_URL``), or in Redis
(``SUPPORTBOT_REDIS_URL``). The shared ones take a token in one atomic statement (one Lua script in Redis) on the
server's clock, so N replicas together allow a client ``per_minute``, not N times it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any


class RateLimiter:
    """Token buckets keyed by API key id; thread-safe."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be >= 1")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token for ``key``; returns 0 when allowed, else the seconds until a token is available."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def check(self) -> None:
        """Check the store of the buckets answers (process memory always does; ``/readyz`` asks)."""

    @staticmethod
    def retry_after(wait: float) -> str:
        """``wait`` seconds as a ``Retry-After`` header value (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait)))


# One statement: refill by the time since the last request (server clock), take a token when there is one.
_TAKE = """
INSERT INTO rate_limits AS r (bucket, tokens, updated, allowed)
SELECT ?, ? - 1, EXTRACT(EPOCH FROM clock_timestamp()), TRUE
ON CONFLICT (bucket) DO UPDATE SET
    tokens = LEAST(?, r.tokens + GREATEST(0, excluded.updated - r.updated) * ?)
        - CASE WHEN LEAST(?, r.tokens + GREATEST(0, excluded.updated - r.updated) * ?) >= 1 THEN 1 ELSE 0 END,
    allowed = LEAST(?, r.tokens + GREATEST(0, excluded.updated - r.updated) * ?) >= 1,
    updated = excluded.updated
RETURNING tokens, allowed
"""


class PostgresRateLimiter(RateLimiter):
    """Token buckets in the ``rate_limits`` table of the shared database (``graph.db.Database``)."""

    def __init__(self, per_minute: int, database: Any) -> None:
        super().__init__(per_minute)
        self.db = database

    def acquire(self, key: str) -> float:
        """Take one token for ``key`` (every replica counts in the same row); 0 when allowed, else the wait."""
        cap, rate = self.capacity, self.rate
        with self.db.transaction() as tx:
            row = tx.execute(_TAKE, (key, cap, cap, rate, cap, rate, cap, rate)).fetchone()
        return 0.0 if row["allowed"] else (1.0 - float(row["tokens"])) / rate


_REDIS_TAKE = """
local cap, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]) or cap, tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 60)
return {allowed, tostring(tokens)}
"""


class RedisRateLimiter(RateLimiter):
    """Token buckets in Redis hashes (``supportbot:rl:<key>``), taken by one Lua script."""

    def __init__(self, per_minute: int, url: str, timeout: float = 5.0) -> None:
        import redis

        from graph.db import redact_url

        super().__init__(per_minute)
        self.where = redact_url(url)
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._take = self.client.register_script(_REDIS_TAKE)

    def acquire(self, key: str) -> float:
        """Take one token for ``key``; 0 when allowed, else the seconds until a token is available.

        Raises:
            graph.db.DatabaseUnavailable: Redis refused, failed or did not answer in time (a 503, not a 500).
        """
        import redis

        from graph.db import DatabaseUnavailable

        try:
            allowed, tokens = self._take(keys=[f"supportbot:rl:{key}"], args=[self.capacity, self.rate])
        except redis.RedisError as exc:  # a hung Redis times out (redis.TimeoutError is no ConnectionError)
            raise DatabaseUnavailable(
                f"the state database is unavailable: the rate-limit store (Redis at {self.where}) failed: "
                f"{str(exc).strip() or type(exc).__name__}"
            ) from exc
        return 0.0 if int(allowed) else (1.0 - float(tokens)) / self.rate

    def check(self) -> None:
        """Check Redis answers (and takes this URL's password and database), as a server checks it at start.

        Raises:
            graph.db.DatabaseUnavailable: it does not, with the reason.
        """
        import redis

        from graph.db import DatabaseUnavailable

        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise DatabaseUnavailable(
                f"cannot reach Redis at {self.where}: {str(exc).strip() or type(exc).__name__}"
            ) from exc


def make_limiter(per_minute: int, *, database: Any = None, redis_url: str | None = None) -> RateLimiter:
    """The limiter for a deployment: Redis when ``redis_url`` is set, the shared PostgreSQL ``database`` when one is
    given, else process memory."""
    if redis_url:
        return RedisRateLimiter(per_minute, redis_url)
    if database is not None and getattr(database, "kind", None) == "postgres":
        return PostgresRateLimiter(per_minute, database)
    return RateLimiter(per_minute)
