"""Deinterlacing for rendering: FFmpeg's bwdif over frames coded as fields, progressive frames untouched.

A clip cut from broadcast or camcorder footage (1080i, 576i) would otherwise show combs on every
moving edge once it is cropped and scaled. Analysis needs none of this: its 64-px pictures average
the two fields anyway.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction

import av
import av.filter


class Deinterlacer:
    """Feed decoded video frames in display order with ``push``; they come back in the same order,
    deinterlaced where they were coded as fields, one output frame per input frame.

    The filter starts on the first interlaced frame; until then frames pass straight through. Once it
    runs, bwdif looks one frame ahead, so each frame comes back one ``push`` later and ``flush`` returns
    the last one. Times (pts) are kept.
    """

    def __init__(self) -> None:
        self._graph: av.filter.Graph | None = None  # kept: the contexts below belong to it
        self._source: av.filter.context.FilterContext | None = None
        self._sink: av.filter.context.FilterContext | None = None
        self._times: deque[tuple[int | None, Fraction | None]] = deque()  # (pts, time_base) of frames held

    @property
    def active(self) -> bool:
        return self._source is not None

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        if self._source is None:
            if not frame.interlaced_frame:
                return [frame]
            self._start(frame)
        assert self._source is not None
        self._times.append((frame.pts, frame.time_base))
        self._source.push(frame)
        return self._drain()

    def flush(self) -> list[av.VideoFrame]:
        if self._source is None:
            return []
        self._source.push(None)
        return self._drain()

    def _start(self, frame: av.VideoFrame) -> None:
        graph = av.filter.Graph()
        source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format,
                                  time_base=frame.time_base)
        # send_frame: one frame out per frame in (not per field), so the clip keeps its frame rate;
        # deint=interlaced: frames flagged progressive in a mixed stream pass unchanged.
        bwdif = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
        sink = graph.add("buffersink")
        source.link_to(bwdif)
        bwdif.link_to(sink)
        graph.configure()
        self._graph, self._source, self._sink = graph, source, sink

    def _drain(self) -> list[av.VideoFrame]:
        assert self._sink is not None
        out: list[av.VideoFrame] = []
        while True:
            try:
                frame = self._sink.pull()
            except (BlockingIOError, EOFError):  # PyAV's EAGAIN / EOF errors subclass these
                return out
            # bwdif halves the time base (it could emit one frame per field); give each frame back the
            # time of the frame it came from, in the stream's own time base.
            frame.pts, frame.time_base = self._times.popleft() if self._times else (frame.pts, frame.time_base)
            out.append(frame)
