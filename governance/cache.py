"""Django's Redis cache, reusing one client per connection pool; counters and marks in one round trip.

Django's RedisCacheClient builds a new `redis.Redis` object for every cache call; each one fills a
table of ~150 response callbacks, which cost ~0.2 ms a call, about 1 ms of every API request (the
throttle and the decision marks make four or five calls). A `redis.Redis` object is safe to share
between threads (it borrows a connection from its pool per command), so one per pool is kept.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class StewardRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient


# ---------------------------------------------------------------- counters and marks
# Hot paths (the API throttle, the decision endpoint) need counters and "seen this minute" marks. With
# Redis they go in one pipeline; with another backend, one call each through Django's cache API.


def _redis_client():
    """The default cache's Redis client, or None for another backend. (Asked of the backend itself:
    `django.core.cache.cache` is a proxy, and isinstance() sees the proxy's class.)"""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return backend._cache.get_client(write=True)
    return None


def shared() -> bool:
    """Whether the default cache is shared by every process (Redis), not one process's memory."""
    return isinstance(caches["default"], RedisCache)


def incr_many(counts: dict[str, int], ttl: int) -> dict[str, int]:
    """Add `n` to each counter (created at 0, expiring `ttl` seconds after its last change) and
    return the new totals."""
    if not counts:
        return {}
    client = _redis_client()
    if client is None:
        totals = {}
        for key, n in counts.items():
            cache.add(key, 0, ttl)
            try:
                totals[key] = cache.incr(key, n)
            except ValueError:  # evicted between add and incr
                cache.set(key, n, ttl)
                totals[key] = n
        return totals
    pipe = client.pipeline(transaction=False)
    keys = _queue_counts(pipe, counts, ttl)
    replies = pipe.execute()
    return {key: int(replies[2 * i]) for i, key in enumerate(keys)}


def _queue_counts(pipe, counts: dict[str, int], ttl: int) -> list[str]:
    """Queue each counter's increment and expiry on `pipe` (two replies each); the keys in order."""
    keys = list(counts)
    for key in keys:
        raw = cache.make_and_validate_key(key)
        pipe.incrby(raw, counts[key])
        pipe.expire(raw, ttl)
    return keys


def add_many(keys: Iterable[str], ttl: int) -> set[str]:
    """Set each mark unless it exists (for `ttl` seconds); return the keys that were new. A key
    named twice is new only the first time."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return set()
    client = _redis_client()
    if client is None:
        return {key for key in keys if cache.add(key, 1, ttl)}
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.set(cache.make_and_validate_key(key), 1, nx=True, ex=ttl)
    return {key for key, done in zip(keys, pipe.execute(), strict=True) if done}


def incr_and_add(counts: dict[str, int], counts_ttl: int, marks: Iterable[str], marks_ttl: int):
    """`incr_many(counts, counts_ttl)` and `add_many(marks, marks_ttl)` in one round trip on Redis:
    (totals, new marks)."""
    marks = list(dict.fromkeys(marks))
    client = _redis_client()
    if client is None or not (counts and marks):
        return incr_many(counts, counts_ttl), add_many(marks, marks_ttl)
    pipe = client.pipeline(transaction=False)
    keys = _queue_counts(pipe, counts, counts_ttl)
    for key in marks:
        pipe.set(cache.make_and_validate_key(key), 1, nx=True, ex=marks_ttl)
    replies = pipe.execute()
    totals = {key: int(replies[2 * i]) for i, key in enumerate(keys)}
    done = replies[2 * len(keys) :]
    return totals, {key for key, new in zip(marks, done, strict=True) if new}


# A sliding-window rate limit's check-and-count, atomic and in one round trip: the two windows'
# counts are read, and the current one is incremented only when the request is within the limit.
# KEYS: current window, previous window. ARGV: limit, the previous window's share still in view, ttl.
# Returns the new count, or -1 when over the limit (nothing counted).
_WINDOW_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if current + previous * tonumber(ARGV[2]) >= tonumber(ARGV[1]) then
  return -1
end
current = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return current
"""
_SCRIPTS: dict[int, object] = {}


def window_admit(
    current_key: str, previous_key: str, limit: int, still_counts: float, ttl: int
) -> bool | None:
    """On Redis: count a request in the current window unless the sliding window is full; True when
    admitted, False when not. None on another backend (the caller reads and counts itself)."""
    client = _redis_client()
    if client is None:
        return None
    script = _SCRIPTS.get(id(client))
    if script is None:
        script = _SCRIPTS[id(client)] = client.register_script(_WINDOW_SCRIPT)
    keys = [cache.make_and_validate_key(current_key), cache.make_and_validate_key(previous_key)]
    return int(script(keys=keys, args=[limit, repr(still_counts), ttl])) >= 0
