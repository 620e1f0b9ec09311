"""Live mode's pure core: a stream's signals stitched piece by piece, and clips chosen without the future.

A live stream is analysed in pieces (a few segments of the playlist, each decoded with the segment before it as
lead-in, so a cut, a silence or a word at a segment border is seen whole by one piece). ``SignalStitcher``
keeps, from each piece, only what lies in the part of the stream that piece owns, shifted to stream time: the
result is one ``Signals`` for the stream so far, as if extract had read it in one go, so scoring runs unchanged.

``LiveSelector`` decides once per piece which windows are final (their end is ``lookahead_s`` behind the edge
of the stream analysed), scores them against the stream so far (scoring ranks each window against the one-second
distribution of everything analysed, and the selector keeps a running histogram of window totals), and emits
the best of them that clear the gates: a minimum score, the top share of all windows so far, and a budget of
clips per hour. Its state is small and JSON-ready, so a resumed job decides exactly as the killed one would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from streamapp.analysis.audio_events import bursts
from streamapp.kernels.loudness import silences
from streamapp.stages.edges import refine_edges
from streamapp.stages.extract import AnalysisParams, Signals
from streamapp.stages.score import Candidate, ClipOptions, candidate_windows, scored_windows

_EPS = 1e-6
_FLOOR_DB = -100.0  # loudness given to hops a piece did not cover (a gap in the stream's sound)
_BINS = 1001  # window totals to 0.1, 0-100


@dataclass(frozen=True)
class LiveOptions:
    lookahead_s: float = 5.0  # a window is final once this much stream after its end has been analysed
    clips_per_hour: float = 12.0  # the budget: one clip at once, then this many per hour of stream
    min_score: float = 40.0  # no clip below this total, however the stream has gone
    top_share: float = 0.25  # a clip's window ranks in this top share of all windows scored so far
    max_clips: int | None = None  # a cap over the whole stream (None: the budget alone)
    # Nothing is chosen before this much stream is final: the first windows are then ranked against a
    # minute of the stream, not against themselves, and wait for it rather than being passed over.
    warmup_s: float = 30.0


def _quiet_hops(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loudness, lufs, speech) for ``count`` hops where nothing was heard."""
    return (np.full(count, _FLOOR_DB, dtype=np.float32), np.full(count, _FLOOR_DB, dtype=np.float32),
            np.zeros(count, dtype=np.uint8))


def _spans_in(spans: list[tuple[float, float]], offset: float) -> list[tuple[float, float]]:
    return [(float(a) + offset, float(b) + offset) for a, b in spans]


class SignalStitcher:
    """One ``Signals`` for the stream so far, from pieces analysed one after another.

    Per-frame and per-hop values, cuts and words are taken from the piece that owns their time. Silences and
    loud bursts are found again on the stitched loudness of the whole stream: a burst is judged against the
    ten seconds around it, which a piece cut at its start or end does not have."""

    def __init__(self, params: AnalysisParams) -> None:
        self.params = params
        self.hop_s = params.hop_s
        self.edge_s = 0.0  # the end of the part of the stream owned so far
        self.fps = 0.0
        self.language = ""
        self.has_audio = False
        self._frames: list[tuple[np.ndarray, np.ndarray]] = []  # (times, motion)
        self._faces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._hops: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (loudness, lufs, speech)
        self._hop_count = 0
        self.cuts_s: list[float] = []
        self.gradual_s: list[float] = []
        self.words: list[dict] = []
        self.spans: dict[str, list[tuple[float, float]]] = {"black": [], "frozen": []}
        self._cached: Signals | None = None

    def add(self, piece: Signals, offset_s: float, owned_to_s: float | None) -> None:
        """Take what ``piece`` (decoded from stream time ``offset_s``) says about [edge_s, owned_to_s); None:
        to its end (the stream's last piece)."""
        start = self.edge_s
        piece_end = offset_s + float(piece.duration_s)
        end = piece_end if owned_to_s is None else min(owned_to_s, piece_end)
        if end <= start + _EPS:
            return
        self.fps = float(piece.fps) or self.fps
        self.language = self.language or piece.language
        self._take_frames(piece, offset_s, start, end)
        self._take_hops(piece, offset_s, start, end)
        for name, target in (("cuts_s", self.cuts_s), ("gradual_s", self.gradual_s)):
            target.extend(t + offset_s for t in getattr(piece, name) if start <= t + offset_s < end)
        self.words.extend({**w, "start_s": round(float(w["start_s"]) + offset_s, 3),
                           "end_s": round(float(w["end_s"]) + offset_s, 3)}
                          for w in piece.words if start <= float(w["start_s"]) + offset_s < end)
        for name, stitched in self.spans.items():
            self._take_spans(stitched, _spans_in(getattr(piece, name), offset_s), start, end)
        self.edge_s = end
        self._cached = None

    def skip(self, to_s: float) -> None:
        """Go on to ``to_s`` with nothing seen or heard (a piece that did not decode)."""
        if to_s <= self.edge_s + _EPS:
            return
        stop = int(round(to_s / self.hop_s))
        if stop > self._hop_count:
            self._hops.append(_quiet_hops(stop - self._hop_count))
            self._hop_count = stop
        self.edge_s = to_s
        self._cached = None

    def _take_frames(self, piece: Signals, offset: float, start: float, end: float) -> None:
        times = np.asarray(piece.frame_times_s, dtype=np.float64) + offset
        keep = (times >= start) & (times < end)
        self._frames.append((times[keep], np.asarray(piece.motion, dtype=np.float32)[keep]))
        face_times = np.asarray(piece.face_times_s, dtype=np.float64) + offset
        keep = (face_times >= start) & (face_times < end)
        self._faces.append((face_times[keep], np.asarray(piece.faces, dtype=np.int16)[keep],
                            np.asarray(piece.face_area, dtype=np.float32)[keep]))

    def _take_hops(self, piece: Signals, offset: float, start: float, end: float) -> None:
        """Hop k of the piece is hop k + round(offset / hop) of the stream; hops it lacks are quiet."""
        first, stop = self._hop_count, int(round(end / self.hop_s))
        if stop <= first:
            return
        shift = int(round(offset / self.hop_s))
        loud, lufs, speech = _quiet_hops(stop - first)
        source = np.arange(first, stop) - shift
        for out, values in ((loud, piece.loudness_db), (lufs, piece.lufs), (speech, piece.speech)):
            values = np.asarray(values)
            ok = (source >= 0) & (source < values.size)
            out[ok] = values[source[ok]]
        self.has_audio = self.has_audio or bool(piece.has_audio and np.asarray(piece.loudness_db).size)
        self._hops.append((loud, lufs, speech))
        self._hop_count = stop

    @staticmethod
    def _take_spans(stitched: list[tuple[float, float]], spans: list[tuple[float, float]], start: float,
                    end: float) -> None:
        """A span starting in [start, end) is this piece's; one that began before ``start`` carries on one the
        last piece saw cut short by its end (or that it missed), so it extends or joins it."""
        for a, b in spans:
            if b <= start + _EPS or a >= end:
                continue
            if a < start:
                if stitched and stitched[-1][1] >= a - _EPS:
                    stitched[-1] = (stitched[-1][0], max(stitched[-1][1], b))
                    continue
                a = start
            stitched.append((a, b))

    def signals(self) -> Signals:
        if self._cached is not None:
            return self._cached
        frames = list(zip(*self._frames, strict=True)) or [[], []]
        faces = list(zip(*self._faces, strict=True)) or [[], [], []]
        hops = list(zip(*self._hops, strict=True)) or [[], [], []]

        def joined(parts: Any, dtype: Any) -> np.ndarray:
            return np.concatenate(parts).astype(dtype) if len(parts) else np.zeros(0, dtype=dtype)

        loudness = joined(hops[0], np.float32) if self.has_audio else np.zeros(0, dtype=np.float32)
        lufs = joined(hops[1], np.float32) if self.has_audio else np.zeros(0, dtype=np.float32)
        self._cached = Signals(
            duration_s=self.edge_s, fps=self.fps,
            frame_times_s=joined(frames[0], np.float64), motion=joined(frames[1], np.float32),
            cuts_s=list(self.cuts_s), hop_s=self.hop_s, loudness_db=loudness, has_audio=self.has_audio,
            silences=silences(loudness, self.hop_s, self.params.silence_db, self.params.min_silence_s)
            if loudness.size else [],
            lufs=lufs, speech=joined(hops[2], np.uint8) if self.has_audio else np.zeros(0, dtype=np.uint8),
            bursts=bursts(lufs, self.hop_s) if lufs.size else [], words=list(self.words),
            gradual_s=list(self.gradual_s),
            black=list(self.spans["black"]), frozen=list(self.spans["frozen"]),
            face_times_s=joined(faces[0], np.float64), faces=joined(faces[1], np.int16),
            face_area=joined(faces[2], np.float32), language=self.language,
        )
        return self._cached

    @classmethod
    def resumed(cls, signals: Signals, params: AnalysisParams) -> SignalStitcher:
        """A stitcher that goes on from a saved stream (a resumed job), as if its pieces had been added."""
        stitcher = cls(params)
        stitcher.fps, stitcher.language, stitcher.has_audio = signals.fps, signals.language, signals.has_audio
        stitcher._frames = [(signals.frame_times_s, signals.motion)]
        stitcher._faces = [(signals.face_times_s, signals.faces, signals.face_area)]
        if signals.has_audio:
            stitcher._hops = [(signals.loudness_db, signals.lufs, signals.speech)]
            stitcher._hop_count = int(np.asarray(signals.loudness_db).size)
        else:  # quiet so far: hops kept all the same, so sound that starts later lands at its own time
            count = int(round(signals.duration_s / signals.hop_s))
            stitcher._hops = [_quiet_hops(count)]
            stitcher._hop_count = count
        stitcher.cuts_s, stitcher.gradual_s = list(signals.cuts_s), list(signals.gradual_s)
        stitcher.words = list(signals.words)
        stitcher.spans = {"black": list(signals.black), "frozen": list(signals.frozen)}
        stitcher.edge_s = float(signals.duration_s)
        return stitcher


@dataclass
class SelectorState:
    """What the selector has decided: JSON-ready, saved after every piece."""

    decided_to_s: float = 0.0  # every window ending at or before this has been scored
    emitted: list[tuple[float, float]] = field(default_factory=list)  # the clips' spans, in order
    totals: list[int] = field(default_factory=lambda: [0] * _BINS)  # histogram of window totals (0.1 bins)

    def to_dict(self) -> dict[str, Any]:
        return {"decided_to_s": self.decided_to_s, "emitted": [list(s) for s in self.emitted],
                "totals": list(self.totals)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SelectorState:
        return cls(float(data["decided_to_s"]), [(float(a), float(b)) for a, b in data["emitted"]],
                   [int(n) for n in data["totals"]])


class LiveSelector:
    """Chooses clips as the stream goes, never looking past what has been analysed."""

    def __init__(self, clip: ClipOptions, live: LiveOptions, weights: dict[str, float] | None = None,
                 state: SelectorState | None = None) -> None:
        self.clip = clip
        self.live = live
        self.weights = weights
        self.state = state or SelectorState()

    def budget(self, stream_s: float) -> int:
        """Clips allowed so far: one at once, then clips_per_hour of stream, under the overall cap."""
        allowed = 1 + int(math.floor(self.live.clips_per_hour * stream_s / 3600.0 + _EPS))
        if self.live.max_clips is not None:
            allowed = min(allowed, self.live.max_clips)
        return allowed - len(self.state.emitted)

    def running_share(self, total: float) -> float:
        """The share of all windows scored so far whose total is at least ``total`` (ties count half)."""
        counts = np.asarray(self.state.totals, dtype=np.int64)
        n = int(counts.sum())
        if n == 0:
            return 0.0
        b = int(round(total * 10.0))
        return (int(counts[b + 1:].sum()) + 0.5 * int(counts[b])) / n

    def decide(self, signals: Signals, ended: bool) -> list[Candidate]:
        """The clips to make now from ``signals`` (the stream so far; ``ended``: nothing more will come)."""
        edge = float(signals.duration_s)
        final_end = edge if ended else edge - self.live.lookahead_s
        decided = self.state.decided_to_s
        if final_end <= decided + _EPS or (final_end < self.live.warmup_s and not ended):
            return []
        lo = max(0.0, decided - self.clip.max_duration_s)
        options = replace(self.clip, range_start_s=lo, range_end_s=final_end)
        windows = [w for w in candidate_windows(signals, options) if w[1] > decided + _EPS]
        self.state.decided_to_s = final_end
        if not windows:
            return []
        scored = scored_windows(signals, windows, self.weights, tuple(self.clip.keywords))
        bins = np.clip(np.round(scored.total * 10.0).astype(np.int64), 0, _BINS - 1)
        self.state.totals = (np.asarray(self.state.totals, dtype=np.int64)
                             + np.bincount(bins, minlength=_BINS)).tolist()
        order = np.lexsort((np.array([e for _, e in windows]), np.array([s for s, _ in windows]), -scored.total))
        if scored.dead_air is not None and not scored.dead_air.all():
            order = order[~scored.dead_air[order]]
        chosen: list[Candidate] = []
        for i in order:
            if self.budget(edge) - len(chosen) <= 0:
                break
            total = float(scored.total[i])
            if total < self.live.min_score or self.running_share(total) > self.live.top_share:
                break  # best first: nothing after this clears the gates either
            s, e = windows[i]
            if any(s < b - _EPS and e > a + _EPS for a, b in self.state.emitted):
                continue
            edges = refine_edges(signals, [(s, e)], (max(0.0, s - 2.0), edge), min_s=self.clip.min_duration_s)[0]
            if edges.end_s - edges.start_s < min(1.0, e - s) or any(
                    edges.start_s < b - _EPS and edges.end_s > a + _EPS for a, b in self.state.emitted):
                continue
            chosen.append(replace(scored.candidate(int(i)), start_s=edges.start_s, end_s=edges.end_s))
            self.state.emitted.append((edges.start_s, edges.end_s))
        return chosen
