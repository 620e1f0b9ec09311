"""The holder board: partitions no live worker holds are found, and a worker rejoins the group for them."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from faust.assignor.client_assignment import ClientAssignment, ClientMetadata

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
    async def scenario() -> tuple[list[Heartbeat], list[Heartbeat], list[Heartbeat]]:
        board = HolderBoard(redis_url, f"test-{uuid.uuid4().hex[:8]}", fresh_s=10.0)
        try:
            await board.beat("a", [("videos", 0)], now=1000.0)
            await board.beat("a", [("videos", 0), ("job-status", 1)], now=1005.0)
            await board.beat("b", [("job-status", 0)], now=960.0)  # older than 3 x fresh_s at 1005
            first = await board.heartbeats(now=1005.0)
            second = await board.heartbeats(now=1005.0)  # b was removed by the first read
            await board.leave("a")
            return first, second, await board.heartbeats(now=1005.0)
        finally:
            await board.close()

    first, second, after_leaving = asyncio.run(scenario())
    assert first == [beat("a", 1005.0, ("videos", 0), ("job-status", 1))]
    assert second == first
    assert after_leaving == []


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

    async def silent_member() -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=env["STREAMAPP_APP_ID"],
                                    enable_auto_commit=False, partition_assignment_strategy=(SilentMemberAssignor,),
                                    session_timeout_ms=10_000, heartbeat_interval_ms=500)
        consumer.subscribe([job_status], listener=generations)
        await consumer.start()
        try:
            deadline = time.monotonic() + 90
            # Given partitions once, then again after the worker's rejoin makes the leader assign anew.
            while time.monotonic() < deadline and len([g for g in generations.assigned if g]) < 2:
                await consumer.getmany(timeout_ms=500)
        finally:
            await consumer.stop()

    try:
        assert wait_until(lambda: "page and API at" in worker.log(), 60), worker.log()
        asyncio.run(silent_member())
        given = [g for g in generations.assigned if g]
        assert given, "the silent member was never given a partition"
        assert "held by no live worker" in worker.log(), worker.log()
        assert len(given) >= 2, f"no new assignment after the worker's rejoin: {generations.assigned}"
    finally:
        worker.stop()
