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
