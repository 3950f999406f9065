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
    keys = list(counts)
    for key in keys:
        raw = cache.make_and_validate_key(key)
        pipe.incrby(raw, counts[key])
        pipe.expire(raw, ttl)
    replies = pipe.execute()
    return {key: int(replies[2 * i]) for i, key in enumerate(keys)}


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
