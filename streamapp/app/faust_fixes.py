"""Workarounds for faust-streaming (0.15.x) behaviour that crashes or misleads a worker, in one place.

Each names what it works around; remove it when the bug it names is fixed upstream.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP


def seek_targets(offsets: Mapping[TP, int | None], tps: Set[TP]) -> dict[TP, int]:
    """Where recovery should start reading each changelog partition: an offset >= 0, always.

    Faust builds a start offset as max(the last offset it read, the broker's earliest offset - 1) and maps
    only -1 to 0. Any other negative offset, or a None where the broker gave no answer, reaches aiokafka's
    seek, which raises "Offset must be a positive integer" inside recovery and kills the worker (seen in a
    6-worker fault run on the embedded broker after a rebalance). Reading such a changelog partition from
    its start instead only replays events the table applies idempotently.
    """
    targets = {}
    for tp in tps:
        offset = offsets.get(tp)
        targets[tp] = offset if isinstance(offset, int) and offset >= 0 else 0
    return targets


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
