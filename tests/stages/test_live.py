"""Live mode's pure core: stitching pieces into the stream's signals, and choosing clips without the future."""

import numpy as np
import pytest

from streamapp.analysis.audio_events import bursts as find_bursts
from streamapp.kernels.loudness import silences as find_silences
from streamapp.stages.extract import AnalysisParams, Signals
from streamapp.stages.live import LiveOptions, LiveSelector, SelectorState, SignalStitcher
from streamapp.stages.score import ClipOptions

HOP = 0.05
FPS = 25
PARAMS = AnalysisParams(hop_s=HOP)


def whole_stream(duration_s: float = 120.0, loud: tuple[float, float] = (70.0, 88.0), seed: int = 3) -> Signals:
    """A stream with cuts, silences and words, and one loud, busy, cut-rich moment at ``loud``."""
    rng = np.random.default_rng(seed)
    times = np.arange(int(duration_s * FPS)) / FPS
    motion = rng.uniform(1.0, 3.0, times.size).astype(np.float32)
    hops = int(round(duration_s / HOP))
    loudness = rng.uniform(-32.0, -28.0, hops).astype(np.float32)
    a, b = (int(round(t / HOP)) for t in loud)
    loudness[a:b] = -12.0
    motion[int(loud[0] * FPS):int(loud[1] * FPS)] = 12.0
    silences = [(9.5, 10.6), (29.0, 31.5), (59.7, 60.2)]
    for s0, s1 in silences:
        loudness[int(round(s0 / HOP)):int(round(s1 / HOP))] = -70.0
    words = [{"start_s": round(t, 3), "end_s": round(t + 0.4, 3), "text": "word.", "prob": 0.9}
             for t in np.arange(0.5, duration_s - 1.0, 0.7) if not any(s0 - 0.5 < t < s1 for s0, s1 in silences)]
    lufs = loudness.copy()
    lufs[int(round(74.0 / HOP)):int(round(76.5 / HOP))] = 0.0  # a shout: a burst across the border at 76 s
    return Signals(
        duration_s=duration_s, fps=float(FPS), frame_times_s=times, motion=motion,
        cuts_s=[12.0, 20.0, 40.0, 72.0, 76.0, 80.0, 84.0, 100.0], hop_s=HOP, loudness_db=loudness,
        has_audio=True, silences=find_silences(loudness, HOP, PARAMS.silence_db, PARAMS.min_silence_s), lufs=lufs,
        speech=(loudness > -50).astype(np.uint8), bursts=find_bursts(lufs, HOP), words=words, gradual_s=[40.0],
    )


def piece_of(whole: Signals, start: float, end: float) -> Signals:
    """What extract would say about [start, end) of the stream, on the piece's own clock (spans cut at its ends)."""
    keep = (whole.frame_times_s >= start) & (whole.frame_times_s < end)
    a, b = int(round(start / HOP)), int(round(end / HOP))

    def spans(values: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(max(s, start) - start, min(e, end) - start) for s, e in values if e > start and s < end]

    return Signals(
        duration_s=end - start, fps=whole.fps, frame_times_s=whole.frame_times_s[keep] - start,
        motion=whole.motion[keep], cuts_s=[c - start for c in whole.cuts_s if start <= c < end], hop_s=HOP,
        loudness_db=whole.loudness_db[a:b], has_audio=True, silences=spans(whole.silences),
        lufs=whole.lufs[a:b], speech=whole.speech[a:b], bursts=spans(whole.bursts),
        words=[{**w, "start_s": w["start_s"] - start, "end_s": w["end_s"] - start} for w in whole.words
               if start <= w["start_s"] and w["end_s"] <= end],
        gradual_s=[g - start for g in whole.gradual_s if start <= g < end],
    )


def pieces(duration_s: float, segment_s: float = 2.0, per_piece: int = 5):
    """(offset, end, owned_to) of each piece: ``per_piece`` new segments after one segment of lead-in; a piece
    owns up to the start of its last segment (None for the stream's last piece)."""
    edge, out = 0.0, []
    while edge < duration_s - 1e-9:
        offset = max(0.0, edge - segment_s)
        end = min(duration_s, edge + per_piece * segment_s)
        last = end >= duration_s - 1e-9
        out.append((offset, end, None if last else end - segment_s))
        edge = end - segment_s if not last else end
    return out


def stitched(whole: Signals, segment_s: float = 2.0) -> tuple[SignalStitcher, list[Signals]]:
    stitcher = SignalStitcher(PARAMS)
    states = []
    for offset, end, owned_to in pieces(whole.duration_s, segment_s):
        stitcher.add(piece_of(whole, offset, end), offset, owned_to)
        states.append(stitcher.signals())
    return stitcher, states


def test_stitched_pieces_give_the_whole_streams_signals_each_thing_once() -> None:
    whole = whole_stream()
    stitcher, _ = stitched(whole)
    got = stitcher.signals()
    assert got.duration_s == pytest.approx(whole.duration_s)
    np.testing.assert_allclose(got.frame_times_s, whole.frame_times_s, atol=1e-9)
    np.testing.assert_array_equal(got.motion, whole.motion)
    np.testing.assert_array_equal(got.loudness_db, whole.loudness_db)
    np.testing.assert_array_equal(got.speech, whole.speech)
    # 20.0 and 40.0 lie exactly on piece borders, 12.0 in a lead-in: each is found once.
    assert got.cuts_s == pytest.approx(whole.cuts_s) and got.gradual_s == pytest.approx([40.0])
    assert [(w["start_s"], w["text"]) for w in got.words] == [(w["start_s"], w["text"]) for w in whole.words]
    # A silence across a border (29.0-31.5 spans the piece that owns up to 30 and the next) is one silence,
    # and the shout across the border at 76 s one burst, judged against the stream around it.
    assert np.ravel(got.silences) == pytest.approx(np.ravel(whole.silences))
    assert len([s for s in got.silences if s[0] < 31.5 and s[1] > 29.0]) == 1
    assert len(got.bursts) == 1 and np.ravel(got.bursts) == pytest.approx([74.0, 76.5], abs=0.1)


def test_a_resumed_stitcher_goes_on_as_if_never_stopped() -> None:
    whole = whole_stream()
    plan = pieces(whole.duration_s)
    first = SignalStitcher(PARAMS)
    for offset, end, owned_to in plan[:4]:
        first.add(piece_of(whole, offset, end), offset, owned_to)
    resumed = SignalStitcher.resumed(first.signals(), PARAMS)
    for offset, end, owned_to in plan[4:]:
        resumed.add(piece_of(whole, offset, end), offset, owned_to)
    again, _ = stitched(whole)
    got, want = resumed.signals(), again.signals()
    np.testing.assert_array_equal(got.motion, want.motion)
    np.testing.assert_array_equal(got.loudness_db, want.loudness_db)
    assert got.cuts_s == want.cuts_s and got.silences == want.silences and got.words == want.words


def decisions(states: list[Signals], selector: LiveSelector) -> list[tuple[float, object]]:
    """(stream edge when made, clip) for each clip, feeding the selector the stream as it grew."""
    out = []
    for i, signals in enumerate(states):
        for clip in selector.decide(signals, ended=i == len(states) - 1):
            out.append((signals.duration_s, clip))
    return out


def test_the_planted_moment_becomes_a_clip_before_the_stream_ends() -> None:
    whole = whole_stream()
    _, states = stitched(whole)
    selector = LiveSelector(ClipOptions(min_duration_s=10.0, max_duration_s=20.0),
                            LiveOptions(lookahead_s=4.0, clips_per_hour=60.0, min_score=0.0, top_share=0.05,
                                        warmup_s=60.0))
    made = decisions(states, selector)
    assert made, "no clip at all"
    overlaps = [(edge, c) for edge, c in made if c.start_s < 88.0 and c.end_s > 70.0]
    assert len(overlaps) == 1, [(c.start_s, c.end_s) for _, c in made]  # found, and once
    edge, clip = overlaps[0]
    assert edge < whole.duration_s  # before the stream ended
    assert edge - clip.end_s <= 4.0 + 8.0 + 1e-6  # within the lookahead and one piece of its end
    assert all(edge >= 60.0 for edge, _ in made)  # the warm-up: nothing from the first minute alone
    assert clip.end_s - clip.start_s <= 20.0 + 1.0
    spans = sorted((c.start_s, c.end_s) for _, c in made)
    assert all(b <= c + 1e-6 for (_, b), (c, _) in zip(spans, spans[1:], strict=False))  # no two clips overlap


def test_the_budget_and_gates_hold_clips_back() -> None:
    whole = whole_stream()
    _, states = stitched(whole)
    clip = ClipOptions(min_duration_s=10.0, max_duration_s=20.0)
    # Two minutes at 12 an hour: one at once and no more.
    budgeted = decisions(states, LiveSelector(clip, LiveOptions(clips_per_hour=12.0, min_score=0.0, top_share=1.0)))
    assert len(budgeted) == 1
    generous = decisions(states, LiveSelector(clip, LiveOptions(clips_per_hour=3600.0, min_score=0.0, top_share=1.0)))
    assert len(generous) > 1
    assert decisions(states, LiveSelector(clip, LiveOptions(clips_per_hour=3600.0, min_score=101.0))) == []


def test_a_selector_resumed_from_its_saved_state_decides_as_the_first_would() -> None:
    whole = whole_stream()
    _, states = stitched(whole)
    clip, live = ClipOptions(min_duration_s=10.0, max_duration_s=20.0), LiveOptions(clips_per_hour=3600.0,
                                                                                    min_score=0.0, top_share=0.5)
    straight = decisions(states, LiveSelector(clip, live))
    first = LiveSelector(clip, live)
    made = [c for i, s in enumerate(states[:5]) for c in first.decide(s, ended=False)]
    saved = SelectorState.from_dict(first.state.to_dict())
    second = LiveSelector(clip, live, state=saved)
    made += [c for i, s in enumerate(states[5:], 5) for c in second.decide(s, ended=i == len(states) - 1)]
    assert [(c.start_s, c.end_s, c.score) for c in made] == [(c.start_s, c.end_s, c.score) for _, c in straight]
    assert SelectorState.from_dict(second.state.to_dict()).emitted == second.state.emitted
