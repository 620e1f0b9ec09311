import logging

from faust.types import TP

from streamapp.app.faust_fixes import RepeatFilter, SafeRecovery, SafeTableManager, seek_targets
from streamapp.app.worker import create_app
from streamapp.settings import Settings


def test_recovery_never_seeks_below_zero():
    a, b, c, d, e = (TP("jobs-changelog", p) for p in range(5))
    # -2: the broker's earliest offset answered as -1, minus Faust's one; -1: nothing read yet;
    # None: no answer from the broker; e: not in the map at all.
    offsets = {a: -2, b: -1, c: 17, d: None}
    assert seek_targets(offsets, {a, b, c, d, e}) == {a: 0, b: 0, c: 17, d: 0, e: 0}


def test_worker_app_recovers_with_the_safe_recovery():
    app = create_app(Settings(broker="kafka://127.0.0.1:1"))
    assert app.conf.TableManager is SafeTableManager
    assert isinstance(app.tables.recovery, SafeRecovery)


def test_repeat_filter_lets_each_message_through_once_per_window_and_counts_the_rest() -> None:
    now = [0.0]
    repeats = RepeatFilter(window_s=10.0, clock=lambda: now[0])

    def record(message: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("aiokafka.conn", logging.ERROR, __file__, 1, message, args, None)

    passed = []
    for step in range(300):  # 30 s of the same error every 0.1 s, and another one now and then
        now[0] = step * 0.1
        for item in (record("Unable connect to node with id %s", 111),
                     *([record("Unable to update metadata")] if step % 50 == 0 else [])):
            if repeats.filter(item):
                passed.append((round(now[0], 1), item.getMessage()))
    assert passed == [
        (0.0, "Unable connect to node with id 111"), (0.0, "Unable to update metadata"),
        (10.0, "Unable connect to node with id 111 (and 99 more like it in 10 s)"),
        (10.0, "Unable to update metadata (and 1 more like it in 10 s)"),
        (20.0, "Unable connect to node with id 111 (and 99 more like it in 10 s)"),
        (20.0, "Unable to update metadata (and 1 more like it in 10 s)"),
    ]


class _ConsumerState:
    """The attributes Faust's consumer keeps per partition, and its seek (which also sets the read offset)."""

    def __init__(self, tp: TP) -> None:
        self._active_partitions = {tp}
        self._paused_partitions: set = set()
        self._buffered_partitions: set = set()
        self._read_offset = {tp: 41}
        self.seeks: list[tuple[TP, int]] = []
        self._assigned = {tp}

    def assignment(self) -> set:
        return self._assigned

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))
        self._read_offset[tp] = offset


def test_a_partition_a_resume_did_not_move_is_fetched_again_from_its_first_unapplied_offset() -> None:
    import asyncio

    from streamapp.app.faust_fixes import refetch_from

    tp = TP("t.job-status", 3)
    consumer = _ConsumerState(tp)
    state = asyncio.run(refetch_from(consumer, tp, 12))
    assert "read_offset=41" in state and "active=True" in state  # what held it, for the log
    assert consumer.seeks == [(tp, 12)] and consumer._read_offset[tp] == 12


def test_a_skipped_status_older_than_the_jobs_end_is_not_published_again() -> None:
    import asyncio
    from types import SimpleNamespace

    import orjson

    from streamapp.events import status_event

    worker = create_app(Settings(broker="kafka://127.0.0.1:1")).streamapp_worker
    sent: list[bytes] = []

    async def resend(role, key, value, partition) -> None:  # noqa: ANN001
        sent.append(value)

    async def read_log(job_id: str) -> dict:
        return {"job_id": job_id, "state": "done" if job_id == "ended" else "exporting"}

    worker.publisher.resend = resend
    worker.read_log = read_log

    def skipped(job_id: str, state: str) -> SimpleNamespace:
        value = orjson.dumps(status_event(job_id, state, "export"))
        return SimpleNamespace(key=job_id.encode(), value=value, partition=3)

    for record in (skipped("ended", "exporting"), skipped("live", "exporting"), skipped("ended", "done")):
        asyncio.run(worker._republish(record))
    assert [orjson.loads(v)["job_id"] + ":" + orjson.loads(v)["state"] for v in sent] == ["live:exporting",
                                                                                          "ended:done"]


def test_a_progress_report_checked_before_a_jobs_end_is_handed_over_before_it() -> None:
    """The worker's sends of one job are checked and handed to the producer one at a time."""
    import asyncio

    import orjson

    from streamapp.events import status_event

    publisher = create_app(Settings(broker="kafka://127.0.0.1:1")).streamapp_worker.publisher
    log: list[str] = []

    class SlowTopic:  # hands the message over only after yielding to the loop (as Faust's send may)
        async def send(self, key: bytes, value: bytes):  # noqa: ANN201
            event = orjson.loads(value)
            await asyncio.sleep(0.05 if event["state"] == "exporting" else 0.0)  # the report is the slower one
            log.append(f"{event['state']} {event['progress']}")
            return asyncio.get_running_loop().create_future()

        def get_topic_name(self) -> str:
            return "t.job-status"

    publisher.channels["job_status"] = SlowTopic()

    async def scenario() -> None:
        progress = asyncio.create_task(publisher.send("job_status", status_event("j", "exporting", "export",
                                                                                 progress=0.5)))
        await asyncio.sleep(0)  # the report has passed its check and is being handed over
        await publisher.send("job_status", status_event("j", "done", "export", progress=1.0))
        await progress
        await publisher.send("job_status", status_event("j", "exporting", "export", progress=0.75))  # late

    asyncio.run(scenario())
    assert log == ["exporting 0.5", "done 1.0"]
