"""Counters and once-a-while marks for the decision hot path, in as few cache round trips as possible.

A batch of 100 questions needs a rate counter per identity and a "seen this minute" mark per
identity and per notable question. With Redis (the production cache, `STEWARD_CACHE_URL`) they go
in one pipeline; with another backend, one call each through Django's cache API (same meaning).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache


def _redis_client():
    from django.core.cache.backends.redis import RedisCache

    if isinstance(cache, RedisCache):
        return cache._cache.get_client(write=True)
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
