"""The Redis result cache against a real Redis: TTL, size cap, counters, and going on when Redis is down."""

from __future__ import annotations

import asyncio
import uuid

import redis

from streamapp import metrics
from streamapp.cache import INDEX_KEY, ResultCache, cache_key
from streamapp.transport.embedded import free_port


def counter(result: str) -> float:
    return metrics.REGISTRY.get_sample_value("streamapp_cache_requests_total", {"result": result}) or 0.0


def test_hits_misses_ttl_and_size_cap(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.delete(INDEX_KEY, "streamapp:cache-sizes")

    async def scenario() -> None:
        cache = ResultCache(redis_url, ttl_s=60, max_total_bytes=2_500_000)
        keys = [cache_key("signals", uuid.uuid4().hex * 2, {"n": i}) for i in range(3)]
        misses, hits = counter("miss"), counter("hit")
        assert await cache.get(keys[0]) is None
        for key in keys:
            assert await cache.put(key, b"x" * 1_000_000)
            await asyncio.sleep(0.01)
        assert counter("miss") == misses + 1
        # three 1 MB entries against a 2.5 MB cap: the oldest went
        assert await cache.get(keys[0]) is None
        assert await cache.get(keys[2]) == b"x" * 1_000_000
        assert counter("hit") == hits + 1
        assert 0 < client.ttl(keys[2]) <= 60
        await cache.close()

    asyncio.run(scenario())


def test_redis_down_means_uncached_not_failed() -> None:
    async def scenario() -> None:
        cache = ResultCache(f"redis://127.0.0.1:{free_port()}/0", ttl_s=60)
        assert await cache.get("streamapp:signals:x") is None
        assert await cache.put("streamapp:signals:x", b"data") is False
        await cache.close()

    asyncio.run(scenario())
    assert metrics.REGISTRY.get_sample_value("streamapp_cache_up") == 0.0
