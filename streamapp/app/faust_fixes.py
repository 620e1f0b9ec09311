"""Workarounds for faust-streaming (0.15.x) behaviour that crashes or misleads a worker, in one place.

Each names what it works around; remove it when the bug it names is fixed upstream.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP


def seek_targets(offsets: Mapping[TP, int], tps: Set[TP]) -> dict[TP, int]:
    """Where recovery should start reading each changelog partition: never before offset 0.

    Faust builds a start offset as max(the last offset it read, the broker's earliest offset - 1) and maps
    only -1 to 0. When the broker answers an earliest offset below 0 for a moment (seen with the embedded
    broker after a rebalance), Faust seeks to -2 and aiokafka raises "Offset must be a positive integer"
    inside recovery, which kills the worker. Reading the changelog from its start instead only replays
    events the table applies idempotently.
    """
    return {tp: max(0, offsets.get(tp, -1)) for tp in tps}


class SafeRecovery(Recovery):
    async def _seek_offsets(self, consumer, tps, offsets, title: str) -> None:  # type: ignore[no-untyped-def]
        await consumer.seek_wait(seek_targets(offsets, tps))


class SafeTableManager(TableManager):
    """Faust's table manager with :class:`SafeRecovery` (set as the app's ``TableManager``)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SafeRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
