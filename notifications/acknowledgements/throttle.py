"""Per-client-address rate limits of the public pages (link and verify).

Fixed one-minute windows counted in Django's cache: Redis when CACHE_URL is
set, so every web process shares the counts; a per-process memory cache
otherwise. Per address, the failures (unknown tokens or references: only
guessing produces many of those) and the requests (generous: a whole office
may come from one address).

A personal link is looked up before it is counted (``link_throttled``): one
guesser behind an office's NAT address must not lock its colleagues out.
Past ACK_RATE_LIMIT_FAILURES, only unknown links are refused, and those
refusals are not counted as requests; a valid link is refused only past
ACK_RATE_LIMIT requests, of which a guesser adds at most the failure limit.
The /verify/ page keeps its own request count (``throttled``) and shares
the failure count.

With Redis, the counts bypass Django's cache client (which builds a client
object and makes two round trips per ``incr``): each web thread keeps its
own connection, and a request costs one command, a small Lua script
(EVALSHA) that counts it, sets the key's expiry when it creates it and
reads the failure count, atomically. The keys are the
cache's own (``cache.make_key``), so clearing the cache clears them.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import threading
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

if TYPE_CHECKING:
    import redis

WINDOW_SECONDS = 60
_REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


def client_address(request: HttpRequest) -> str:
    """The client's address; behind a proxy, the last hop it recorded."""
    header = settings.ACK_CLIENT_IP_HEADER
    raw = ""
    if header:
        raw = request.META.get(header, "").split(",")[-1].strip()
    return raw or request.META.get("REMOTE_ADDR", "") or "unknown"


@functools.lru_cache(maxsize=4096)
def _bucket(address: str) -> str:
    # One IPv6 host usually owns a whole /64: count the network, not the host.
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    return str(ip)


def _keys(request: HttpRequest, counter: str = "all") -> tuple[str, str]:
    """This window's (requests, failures) keys of the client's address;
    ``counter``: "all" for the link pages, "verify" for /verify/."""
    window = int(time.time() // WINDOW_SECONDS)
    bucket = _bucket(client_address(request))
    return f"ack-rl:{counter}:{bucket}:{window}", f"ack-rl:bad:{bucket}:{window}"


@functools.cache
def _redis_for(url: str) -> redis.Redis:
    import redis

    return redis.Redis.from_url(url)


def _redis_url() -> str | None:
    """Where the shared counts are, when the cache is Redis."""
    config = settings.CACHES["default"]
    if config["BACKEND"] != _REDIS_CACHE:
        return None
    location = config["LOCATION"]
    if isinstance(location, str):
        location = location.split(",")
    return location[0]  # the primary: writes go there


def _redis() -> redis.Redis | None:
    """The shared counter store, when the cache is Redis."""
    url = _redis_url()
    return _redis_for(url) if url else None


_THREAD = threading.local()


def _connection(url: str) -> redis.Connection:
    """This thread's own connection to the counter store.

    Taking one from redis-py's pool for each request (a lock, a readiness
    poll, the pool's bookkeeping) and going through its retry wrapper cost
    twice the command itself; a web thread serves one request at a time, so
    it keeps one connection, made from the pool's settings (address,
    password, database, TLS).
    """
    connections = _THREAD.__dict__.setdefault("connections", {})
    connection = connections.get(url)
    if connection is None:
        pool = _redis_for(url).connection_pool
        connection = pool.connection_class(**pool.connection_kwargs)
        connections[url] = connection
    return connection


def _hit(key: str) -> int:
    # incr first: one round trip to Redis once the window's key exists.
    try:
        return cache.incr(key)
    except ValueError:
        if cache.add(key, 1, WINDOW_SECONDS * 2):
            return 1
        return cache.incr(key)


# KEYS[1]: this window's request count, KEYS[2]: its failure count.
# ARGV[1]: their expiry; ARGV[2]: "1" when this request is a failure;
# ARGV[3]: the failure limit (0: none). A failure over the limit is refused
# without counting it as a request. Returns {requests or 0, failures}.
_COUNT_LUA = """
local guesses = 0
if ARGV[2] == '1' then
  guesses = redis.call('INCR', KEYS[2])
  if guesses == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
  local limit = tonumber(ARGV[3])
  if limit > 0 and guesses > limit then return {0, guesses} end
else
  guesses = tonumber(redis.call('GET', KEYS[2]) or '0')
end
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, guesses}
"""
_COUNT_SHA = hashlib.sha1(_COUNT_LUA.encode()).hexdigest()  # noqa: S324 (Redis's script id)


def _count(
    url: str, every: str, bad: str, *, failure: bool, failures: int
) -> tuple[int, int]:
    """Count a request; (requests in this window or 0, failures).

    One EVALSHA round trip; the script is sent in full on first use and
    again after a Redis restart or SCRIPT FLUSH. A broken connection (Redis
    restarted, idle timeout) is reopened once.
    """
    import redis

    args = (2, every, bad, WINDOW_SECONDS * 2, "1" if failure else "0", failures)
    connection = _connection(url)
    for attempt in (1, 2):
        try:
            try:
                connection.send_command("EVALSHA", _COUNT_SHA, *args)
                count, guesses = connection.read_response()
            except redis.exceptions.NoScriptError:
                connection.send_command("EVAL", _COUNT_LUA, *args)
                count, guesses = connection.read_response()
            return int(count), int(guesses)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            connection.disconnect()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _local_count(every: str, bad: str, *, failure: bool, failures: int) -> bool:
    """``link_throttled`` on the cache (no Redis)."""
    if failure and failures and _hit(bad) > failures:
        return True
    limit = settings.ACK_RATE_LIMIT
    return bool(limit) and _hit(every) > limit


def link_throttled(request: HttpRequest, *, unknown: bool) -> bool:
    """Count a request to the link pages, once the link is looked up; True
    when it is refused. ``unknown``: no such link (a failure)."""
    every, bad = _keys(request)
    failures = settings.ACK_RATE_LIMIT_FAILURES if unknown else 0
    url = _redis_url()
    if url is None:
        return _local_count(every, bad, failure=unknown, failures=failures)
    count, guesses = _count(
        url,
        cache.make_key(every),
        cache.make_key(bad),
        failure=unknown,
        failures=failures,
    )
    if unknown and failures and guesses > failures:
        return True
    limit = settings.ACK_RATE_LIMIT
    return bool(limit) and count > limit


def throttled(request: HttpRequest) -> bool:
    """/verify/: count this request; True when its address is over a limit
    (its own requests, or the failures of the link pages and /verify/)."""
    every, bad = _keys(request, "verify")
    limit, failures = settings.ACK_RATE_LIMIT, settings.ACK_RATE_LIMIT_FAILURES
    url = _redis_url()
    if url is None:
        if failures and (cache.get(bad) or 0) >= failures:
            return True
        return bool(limit) and _hit(every) > limit
    count, guesses = _count(
        url, cache.make_key(every), cache.make_key(bad), failure=False, failures=0
    )
    if failures and guesses >= failures:
        return True
    return bool(limit) and count > limit


def failure_note(request: HttpRequest) -> None:
    """/verify/: an unknown reference."""
    if not settings.ACK_RATE_LIMIT_FAILURES:
        return
    bad = _keys(request)[1]
    client = _redis()
    if client is None:
        _hit(bad)
        return
    pipe = client.pipeline(transaction=False)
    pipe.incr(cache.make_key(bad))
    pipe.expire(cache.make_key(bad), WINDOW_SECONDS * 2)
    pipe.execute()


def retry_after() -> int:
    return WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS
