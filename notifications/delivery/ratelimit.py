"""A messages-per-second limit shared by every worker (EMAIL_RATE_LIMIT).

A token bucket whose state lives outside the workers, so N worker processes on
M machines together stay under the limit:

- Redis (when the broker is Redis, which every multi-machine deployment has):
  one Lua script call per acquisition, atomic on the server, using the
  server's clock so that machines with skewed clocks agree.
- A file under VAR_DIR locked with flock otherwise: the default broker is the
  on-disk `filesystem://` one, which only works when every worker shares that
  disk, so a lock file on the same disk reaches every worker too. (A database
  row would also work but would add a write transaction per message to the
  SQLite file the workers are already queueing on.)

Acquisition is a reservation: the caller takes ``n`` tokens at once, the
bucket may go negative, and the caller sleeps for the returned delay. One
round trip per acquisition, no polling, and waiting callers are served in
order of arrival.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from django.conf import settings

_KEY = "notify:email-rate"

# KEYS[1]: bucket; ARGV: rate (tokens/s), burst (capacity), n (tokens wanted).
# Returns the seconds the caller must wait before using its n tokens.
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate) - n
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
if tokens >= 0 then return '0' end
return tostring(-tokens / rate)
"""


class Bucket(Protocol):
    def reserve(self, n: int) -> float: ...


@dataclass
class RedisBucket:
    url: str
    rate: float
    burst: float
    key: str = _KEY

    def __post_init__(self) -> None:
        import redis

        self._script = redis.Redis.from_url(self.url).register_script(_LUA)

    def reserve(self, n: int) -> float:
        return float(self._script(keys=[self.key], args=[self.rate, self.burst, n]))


@dataclass
class FileBucket:
    path: Path
    rate: float
    burst: float

    def reserve(self, n: int) -> float:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            try:
                state = json.loads(handle.read() or "{}")
            except ValueError:
                state = {}
            now = time.time()
            tokens = float(state.get("tokens", self.burst))
            since = now - float(state.get("ts", now))
            tokens = min(self.burst, tokens + since * self.rate) - n
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"tokens": tokens, "ts": now}))
        return 0.0 if tokens >= 0 else -tokens / self.rate


def _burst(rate: float) -> float:
    # One second's worth, at least one message: a brief burst is harmless,
    # and the average over any second stays at the limit.
    return max(1.0, rate)


@cache
def _bucket(url: str, rate: float) -> Bucket:
    if url.startswith(("redis://", "rediss://")):
        return RedisBucket(url=url, rate=rate, burst=_burst(rate))
    return FileBucket(
        path=Path(settings.VAR_DIR) / "email-rate.json", rate=rate, burst=_burst(rate)
    )


def rate_limit() -> float:
    return float(getattr(settings, "EMAIL_RATE_LIMIT", 0) or 0)


def acquire(
    n: int = 1,
    *,
    while_waiting: Callable[[], object] | None = None,
    interval: float = 1.0,
) -> float:
    """Block until ``n`` messages may go out; returns the seconds waited.

    ``while_waiting`` is called every ``interval`` seconds of a long wait (a
    sender renews its claim on the rows it holds, see claim._Claim).
    """
    rate = rate_limit()
    if rate <= 0 or n <= 0:
        return 0.0
    url = getattr(settings, "EMAIL_RATE_LIMIT_URL", "") or settings.CELERY_BROKER_URL
    bucket = _bucket(url, rate)
    waited = 0.0
    burst = int(_burst(rate))
    while n > 0:
        # Never reserve more than the bucket holds: a batch of 500 at 10/s is
        # taken in slices, each waited for, instead of one 50 s debt.
        take = min(n, burst)
        delay = bucket.reserve(take)
        if delay > 0:
            _sleep(delay, while_waiting, interval)
            waited += delay
        n -= take
    return waited


def _sleep(
    delay: float, while_waiting: Callable[[], object] | None, interval: float
) -> None:
    if while_waiting is None:
        time.sleep(delay)
        return
    end = time.monotonic() + delay
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, interval))
        while_waiting()
