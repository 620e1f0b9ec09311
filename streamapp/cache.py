"""Result cache in Redis (redis.asyncio), keyed by content hash plus the settings that change the result.

With Redis down the pipeline goes on uncached; the ``streamapp_cache_up`` gauge and a log line say so.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import orjson
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from streamapp import metrics

log = logging.getLogger(__name__)


def cache_key(kind: str, sha256: str, params: dict[str, Any]) -> str:
    digest = hashlib.sha256(orjson.dumps(params, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    return f"streamapp:{kind}:{sha256}:{digest}"


INDEX_KEY = "streamapp:cache-index"  # sorted set: key -> time stored, oldest evicted first
SIZES_KEY = "streamapp:cache-sizes"  # hash: key -> bytes


class ResultCache:
    """Entries expire after ``ttl_s``; the oldest are evicted once all of them pass ``max_total_bytes``."""

    def __init__(self, url: str, ttl_s: int, max_item_bytes: int = 32 * 1024 * 1024,
                 max_total_bytes: int = 1024 * 1024 * 1024) -> None:
        self._redis = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.ttl_s = ttl_s
        self.max_item_bytes = max_item_bytes
        self.max_total_bytes = max_total_bytes

    def _down(self, exc: Exception) -> None:
        metrics.CACHE_UP.set(0)
        metrics.CACHE.labels("error").inc()
        log.warning("result cache unavailable, going on uncached: %s", str(exc).splitlines()[0])

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(key)
        except (RedisError, OSError) as exc:
            self._down(exc)
            return None
        metrics.CACHE_UP.set(1)
        metrics.CACHE.labels("hit" if value is not None else "miss").inc()
        return value

    async def put(self, key: str, value: bytes) -> bool:
        if len(value) > self.max_item_bytes:
            return False
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(key, value, ex=self.ttl_s)
                pipe.zadd(INDEX_KEY, {key: time.time()})
                pipe.hset(SIZES_KEY, key, len(value))
                await pipe.execute()
            await self._evict()
        except (RedisError, OSError) as exc:
            self._down(exc)
            return False
        metrics.CACHE_UP.set(1)
        return True

    async def _evict(self) -> None:
        """Drop index entries whose keys expired, then the oldest keys until the total fits the cap."""
        sizes = {k.decode(): int(v) for k, v in (await self._redis.hgetall(SIZES_KEY)).items()}
        keys = [k.decode() for k in await self._redis.zrange(INDEX_KEY, 0, -1)]
        alive = await self._redis.exists(*keys) if keys else 0
        total = sum(sizes.values())
        if alive == len(keys) and total <= self.max_total_bytes:
            return
        for key in keys:  # oldest first
            gone = not await self._redis.exists(key)
            if gone or total > self.max_total_bytes:
                await self._redis.delete(key)
                await self._redis.zrem(INDEX_KEY, key)
                await self._redis.hdel(SIZES_KEY, key)
                total -= sizes.get(key, 0)
                if not gone:
                    metrics.CACHE.labels("evicted").inc()

    async def close(self) -> None:
        await self._redis.aclose()
