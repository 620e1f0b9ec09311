"""Read one clip's sound: stereo float32 samples of a media-time range, on a continuous timeline."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np

from streamapp.media.decode import demux_safely, seek_before
from streamapp.media.probe import pick_video_stream, stream_start_s

log = logging.getLogger(__name__)

# Errors that mean "this packet (or the rest of the file) is damaged", not "our code is wrong".
_DAMAGED = (av.error.InvalidDataError, av.error.FFmpegError, EOFError)
MARGIN_S = 0.1  # decoded beyond each end of the range
# Decoded before the range and dropped: right after a seek MP3 (bit reservoir) and AAC (overlap) need a
# frame or two to settle, and those first samples are wrong (measured: 50 ms of garbage on an MP3 track).
_PREROLL_S = 0.2
# The resampler's PTS jitters by about a sample, so the running sample count places audio, but it is reset
# to the PTS whenever the two part by more than this: a hole in the source (dropped packets in a recording)
# becomes silence and an overlap is cut, so sync never drifts by more than this (lip-sync is visibly off
# from ~45 ms; a 100 ms tolerance let 40 ms holes pile up into 80-100 ms of drift).
_RESYNC_S = 0.005


class _Timeline:
    """Samples placed by media time on one continuous run: gaps become zeros, overlaps are dropped."""

    def __init__(self, rate: int, first_s: float, last_s: float) -> None:
        self.rate = rate
        self.first = int(np.floor(first_s * rate))  # sample index (media time * rate) of the first kept
        self.last = int(np.ceil(last_s * rate))  # one past the last kept
        self.parts: list[np.ndarray] = []
        self.placed = self.first  # index one past the last placed sample (zeros fill any gap before it)
        self.clock: float | None = None  # media time of the next resampled sample

    def add(self, t_pts: float | None, data: np.ndarray) -> None:
        # The resampler's PTS jitters by a sample or so; trust the running count unless the
        # source really skipped ahead (or back).
        if self.clock is None or (t_pts is not None and abs(t_pts - self.clock) > _RESYNC_S):
            self.clock = t_pts if t_pts is not None else 0.0
        first = int(round(self.clock * self.rate))
        self.clock += data.shape[1] / self.rate
        lo = max(first, self.placed)
        hi = min(first + data.shape[1], self.last)
        if hi <= lo:
            return
        if lo > self.placed:
            self.parts.append(np.zeros((2, lo - self.placed), dtype=np.float32))
        self.parts.append(data[:, lo - first : hi - first])
        self.placed = hi

    def done(self) -> bool:
        return self.placed >= self.last

    def result(self, end_s: float) -> tuple[float, np.ndarray]:
        """``(t0, samples)`` from the range start; audio that stopped early is padded with silence to ``end_s``."""
        want = max(self.placed, int(np.ceil(end_s * self.rate)))
        if want > self.placed:
            self.parts.append(np.zeros((2, want - self.placed), dtype=np.float32))
        samples = np.concatenate(self.parts, axis=1) if self.parts else np.zeros((2, 0), dtype=np.float32)
        return self.first / self.rate, np.ascontiguousarray(samples, dtype=np.float32)


def _frames(container: av.container.InputContainer, stream: av.stream.Stream) -> Iterable[av.AudioFrame]:
    """Decoded frames of one stream; a damaged packet is skipped, a damaged container ends the run."""
    for packet in demux_safely(container, stream):
        try:
            yield from packet.decode()
        except _DAMAGED as exc:
            log.debug("skipped corrupt audio packet at pts %s: %s", packet.pts, exc)


def read_clip_audio(
    source: str | Path, start_s: float, end_s: float, rate: int = 48000
) -> tuple[float, np.ndarray] | None:
    """Stereo float32 ``(2, n)`` samples at ``rate`` covering about [start_s - 0.1, end_s + 0.1] of media
    time (seconds from the first video frame), with ``t0`` the media time of ``samples[:, 0]``.

    Only that range is decoded (seek 0.2 s before it on the audio stream so the decoder settles, stop
    after it). Mono is duplicated and surround downmixed by the resampler; holes in the source's
    timestamps become silence and overlaps are dropped (samples follow the PTS within 5 ms). Damaged
    packets are skipped, and audio that ends early (damage, truncation, a shorter track) is padded
    with silence to the end of the range. None when the source has no audio stream.
    """
    with av.open(str(source)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        video = pick_video_stream(container)
        origin = stream_start_s(video if video is not None else stream)
        first_s = start_s - MARGIN_S
        last_s = end_s + MARGIN_S
        if first_s > 0 and stream.time_base is not None:
            # If seeking fails, decode from the start instead; the timeline trims by time.
            with contextlib.suppress(*_DAMAGED):
                seek_before(container, stream, max(0.0, first_s - _PREROLL_S), origin)
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
        timeline = _Timeline(rate, first_s, last_s)

        def place(outs: list[av.AudioFrame]) -> None:
            for out in outs:
                data = out.to_ndarray().astype(np.float32, copy=True).reshape(2, -1)
                if data.shape[1]:
                    t_pts = None if out.pts is None else float(out.pts * out.time_base) - origin
                    timeline.add(t_pts, data)

        for frame in _frames(container, stream):
            try:
                place(resampler.resample(frame))
            except _DAMAGED:
                continue
            if timeline.done():
                break
        else:
            with contextlib.suppress(*_DAMAGED):
                place(resampler.resample(None))
        return timeline.result(last_s)
