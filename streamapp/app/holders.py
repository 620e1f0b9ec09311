"""Who holds each input partition, across the group: a partition no live worker holds is found and the group rejoined.

After two workers of six were killed, a no-rerun suite run had a job-status partition whose queued job waited 8
minutes: its record was in the changelog (two workers kept standby copies of it), and no live worker ran it until
the test's shutdown rebalanced the group. Tansu's records of failed concurrent rebalances across chained consumer
groups fit: the group settled with a partition assigned to nobody. A worker only knows its own assignment and the
broker's DescribeGroups answer from Tansu carries no assignments, so each worker writes the input partitions it
holds to Redis every few seconds (a heartbeat that expires with the worker) and reads everyone's: a partition that
nobody has held for ``after_s`` makes the worker ask its consumer to rejoin, which makes the group assign again.

The pure part (``uncovered``, ``Coverage``) decides; ``HolderBoard`` is the Redis side, best effort: with Redis away
the check waits and the worker runs as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson
from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("streamapp.worker")

Partition = tuple[str, int]


@dataclass(frozen=True)
class Heartbeat:
    worker_id: str
    at: float  # Redis's clock (TIME), seconds: heartbeats are compared across processes and machines
    held: frozenset[Partition]


def uncovered(heartbeats: Iterable[Heartbeat], partitions: Mapping[str, int], now: float,
              fresh_s: float) -> set[Partition]:
    """Partitions of ``partitions`` (topic -> count) in no heartbeat younger than ``fresh_s``."""
    held: set[Partition] = set()
    for beat in heartbeats:
        if now - beat.at <= fresh_s:
            held |= beat.held
    return {(topic, p) for topic, count in partitions.items() for p in range(count)} - held


class Coverage:
    """Since when each partition has had no holder; which have gone without one for ``after_s``."""

    def __init__(self, after_s: float) -> None:
        self.after_s = after_s
        self._since: dict[Partition, float] = {}

    def update(self, missing: set[Partition], now: float) -> list[Partition]:
        self._since = {tp: self._since.get(tp, now) for tp in missing}
        return sorted(tp for tp, since in self._since.items() if now - since >= self.after_s)

    def forget(self) -> None:
        """After a rejoin: each partition gets ``after_s`` again to find its holder."""
        self._since = {}


class HolderBoard:
    """Each worker's held input partitions in one Redis hash per deployment (field: worker id).

    Times are Redis's own clock (TIME), so workers on machines whose clocks disagree still judge each other's
    heartbeats alike; ``now`` is read from it on each call.
    """

    def __init__(self, url: str, app_id: str, fresh_s: float) -> None:
        self._redis = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._key = f"streamapp:{app_id}:holders"
        self._rejoin_key = f"streamapp:{app_id}:rejoin"
        self.fresh_s = fresh_s

    async def now(self) -> float:
        seconds, micros = await self._redis.time()
        return seconds + micros / 1e6

    async def beat(self, worker_id: str, held: Iterable[Partition]) -> float:
        """Write this worker's heartbeat; returns its time."""
        now = await self.now()
        value = orjson.dumps({"at": now, "held": sorted(held)})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key, worker_id, value)
            pipe.expire(self._key, int(self.fresh_s * 10))  # the whole hash goes when the deployment stops
            await pipe.execute()
        return now

    async def heartbeats(self, now: float) -> list[Heartbeat]:
        """Every heartbeat on the board; stale ones (a killed worker's) are removed as they are read."""
        beats, stale = [], []
        for field, value in (await self._redis.hgetall(self._key)).items():
            try:
                data = orjson.loads(value)
                beat = Heartbeat(field.decode(), float(data["at"]), frozenset((t, int(p)) for t, p in data["held"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                stale.append(field)
                continue
            if now - beat.at > self.fresh_s * 3:
                stale.append(field)
            else:
                beats.append(beat)
        if stale:
            await self._redis.hdel(self._key, *stale)
        return beats

    async def claim_rejoin(self, worker_id: str, for_s: float) -> bool:
        """Whether this worker is the one to make the group rejoin now: every worker sees the same missing
        partition within seconds, and one rebalance serves them all (concurrent ones are what the embedded
        broker handles worst)."""
        return bool(await self._redis.set(self._rejoin_key, worker_id, nx=True, ex=max(1, int(for_s))))

    async def leave(self, worker_id: str) -> None:
        try:
            await self._redis.hdel(self._key, worker_id)
        except RedisError as exc:
            log.debug("could not take this worker off the holder board: %s", exc)

    async def close(self) -> None:
        await self._redis.aclose()
