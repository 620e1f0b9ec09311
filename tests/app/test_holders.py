"""The holder board: partitions no live worker holds are found, and a worker rejoins the group for them."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from faust.assignor.client_assignment import ClientAssignment, ClientMetadata
from redis import asyncio as aioredis

from streamapp.app.holders import Coverage, Heartbeat, HolderBoard, uncovered
from tests.conftest import WorkerProcess, wait_until

COUNTS = {"videos": 3, "job-status": 4}


def beat(worker: str, at: float, *held: tuple[str, int]) -> Heartbeat:
    return Heartbeat(worker, at, frozenset(held))


def test_a_partition_in_no_fresh_heartbeat_is_uncovered() -> None:
    beats = [beat("a", 100.0, ("videos", 0), ("videos", 1), ("job-status", 0), ("job-status", 1)),
             beat("b", 99.0, ("videos", 2), ("job-status", 2)),
             beat("dead", 50.0, ("job-status", 3))]  # a killed worker's last word: too old to count
    assert uncovered(beats, COUNTS, now=100.0, fresh_s=15.0) == {("job-status", 3)}
    assert uncovered(beats, COUNTS, now=100.0, fresh_s=60.0) == set()


def test_coverage_names_a_partition_only_once_it_has_gone_without_a_holder_long_enough() -> None:
    coverage = Coverage(after_s=60.0)
    assert coverage.update({("job-status", 3)}, now=0.0) == []
    assert coverage.update({("job-status", 3), ("videos", 1)}, now=59.0) == []
    assert coverage.update({("job-status", 3), ("videos", 1)}, now=60.0) == [("job-status", 3)]
    # Held again in between: the clock starts over.
    assert coverage.update(set(), now=61.0) == []
    assert coverage.update({("job-status", 3)}, now=62.0) == []
    assert coverage.update({("job-status", 3)}, now=121.0) == []
    assert coverage.update({("job-status", 3)}, now=122.0) == [("job-status", 3)]
    coverage.forget()
    assert coverage.update({("job-status", 3)}, now=123.0) == []


def test_the_board_keeps_each_workers_latest_heartbeat_and_drops_stale_ones(redis_url: str) -> None:
    app_id = f"test-{uuid.uuid4().hex[:8]}"
    key = f"streamapp:{app_id}:holders"

    async def scenario() -> tuple[float, list[Heartbeat], bool, list[Heartbeat], list[bool]]:
        board = HolderBoard(redis_url, app_id, fresh_s=10.0)
        raw = aioredis.from_url(redis_url)
        try:
            await board.beat("a", [("videos", 0)])
            at = await board.beat("a", [("videos", 0), ("job-status", 1)])
            # A killed worker's last heartbeat, older than 3 x fresh_s by Redis's clock.
            await raw.hset(key, "b", orjson.dumps({"at": at - 31.0, "held": [["job-status", 0]]}))
            beats = await board.heartbeats(await board.now())
            b_left = bool(await raw.hexists(key, "b"))
            await board.leave("a")
            after_leaving = await board.heartbeats(await board.now())
            claims = [await board.claim_rejoin("a", 60.0), await board.claim_rejoin("c", 60.0)]
            return at, beats, b_left, after_leaving, claims
        finally:
            await raw.delete(key, f"streamapp:{app_id}:rejoin")
            await raw.aclose()
            await board.close()

    at, beats, b_left, after_leaving, claims = asyncio.run(scenario())
    assert beats == [beat("a", at, ("videos", 0), ("job-status", 1))]
    assert not b_left, "a stale heartbeat stays on the board"
    assert after_leaving == []
    assert claims == [True, False], "two workers both made the group rejoin"


class SilentMemberAssignor(AbstractPartitionAssignor):
    """Joins a Faust group as a Faust member would, takes the partitions Faust's leader gives it, and processes
    nothing: from outside, a partition assigned to no live worker."""

    name = "faust"
    version = 4

    @classmethod
    def assign(cls, cluster, members):  # noqa: ANN001, ANN206 - only a Faust worker leads this group
        raise AssertionError("the silent member must not lead the group")

    @classmethod
    def metadata(cls, topics):  # noqa: ANN001, ANN206
        client = ClientMetadata(assignment=ClientAssignment(actives={}, standbys={}), url="http://silent:1",
                                changelog_distribution={}, topic_groups={})
        return ConsumerProtocolMemberMetadata(cls.version, list(topics), client.dumps())

    @classmethod
    def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
        pass


REJOIN_LINE = "held by no live worker"  # the worker's log line as it rejoins the group


def holds_partitions(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(json.loads(response.read()).get("job_partitions"))
    except OSError:
        return False


class Generations(ConsumerRebalanceListener):
    def __init__(self) -> None:
        self.assigned: list[set] = []

    async def on_partitions_revoked(self, revoked) -> None:  # noqa: ANN001
        pass

    async def on_partitions_assigned(self, assigned) -> None:  # noqa: ANN001
        self.assigned.append(set(assigned))


@pytest.mark.integration
@pytest.mark.consumer_groups
def test_a_worker_rejoins_the_group_when_partitions_go_to_a_member_that_processes_nothing(
        stack_env: dict[str, str], bootstrap: str, tmp_path) -> None:
    env = {**stack_env, "STREAMAPP_HOLDER_MISSING_S": "8"}
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    job_status = f"{env['STREAMAPP_TOPIC_PREFIX']}.job-status"
    generations = Generations()
    rejoined: list[int | None] = [None]  # how many assignments the silent member had when the worker rejoined

    async def silent_member() -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=env["STREAMAPP_APP_ID"],
                                    enable_auto_commit=False, partition_assignment_strategy=(SilentMemberAssignor,),
                                    session_timeout_ms=10_000, heartbeat_interval_ms=500)
        consumer.subscribe([job_status], listener=generations)
        await consumer.start()
        try:
            deadline = time.monotonic() + 90
            # Given partitions, then again after the worker's rejoin makes the leader assign anew. Counting two
            # assignments is not enough: the embedded broker sometimes rebalances once more by itself right after
            # a member joins (seen in a suite run: a second assignment 1 s after the first, no rejoin).
            while time.monotonic() < deadline:
                await consumer.getmany(timeout_ms=500)
                if rejoined[0] is None and REJOIN_LINE in worker.log_path.read_text(errors="replace"):
                    rejoined[0] = len(generations.assigned)
                if rejoined[0] is not None and any(generations.assigned[rejoined[0]:]):
                    break
        finally:
            await consumer.stop()

    try:
        # The worker leads the group before the silent member joins (that member cannot lead a Faust group).
        assert wait_until(lambda: holds_partitions(worker.web_port), 90, 1.0), worker.log()
        asyncio.run(silent_member())
        given = [g for g in generations.assigned if g]
        assert given, "the silent member was never given a partition"
        assert rejoined[0] is not None, worker.log()
        assert any(generations.assigned[rejoined[0]:]), f"no new assignment after the worker's rejoin: " \
                                                        f"{generations.assigned}"
    finally:
        worker.stop()
