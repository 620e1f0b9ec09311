from faust.types import TP

from streamapp.app.faust_fixes import SafeRecovery, SafeTableManager, seek_targets
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
