"""Speaker on screen: a two-person call composed from real talking heads, planned by today's and the old planner.

Usage: python bench/speakers.py [--turn 5] [--turns 4] [--out /tmp/bench-call.mp4]

Two real talking heads (../shared/media/files/faces, 5-6 s each with their own speech) sit side by
side in a 1280x720 call, each in a 640x640 tile. They take turns: the speaker's tile plays with its
sound; the listener's tile holds a still frame and is muted (a listener whose lips move would be a
harder case). For each sampled time we know who speaks. Printed side by side for the planner of
this checkout and for the planner before speaker layouts (commit cd25136): the layouts chosen, and
the share of clip time in which the speaker's face is fully on screen at >= 15 % of the 9:16 output
height (1080x1920).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from streamapp.kernels.loudness import rms_envelope_db  # noqa: E402
from streamapp.media.render import center_crop_box  # noqa: E402
from streamapp.reframe.analysis import analyze_clip  # noqa: E402
from streamapp.reframe.path import plan_camera  # noqa: E402

FACES = Path("/work/shared/media/files/faces")
W, H, TILE, FPS, RATE = 1280, 720, 640, 25, 48000
OUT_W, OUT_H = 1080, 1920
OLD_COMMIT = "cd25136"


def _clip(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames (rgb, TILE x TILE) and mono audio at RATE of a talking head."""
    frames, audio = [], []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24", width=TILE, height=TILE))
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        for f in c.decode(audio=0):
            for g in resampler.resample(f):
                audio.append(g.to_ndarray().reshape(-1))
    return frames, np.concatenate(audio)


def compose_call(out: str, turn_s: float, turns: int) -> list[tuple[float, float, int]]:
    """Write the call; returns its turns as (start, end, tile) with tile 0 = left, 1 = right."""
    people = [_clip(FACES / "retalking-face-1.mp4"), _clip(FACES / "retalking-face-2.mp4")]
    n_turn = int(turn_s * FPS)
    plan = [(k * turn_s, (k + 1) * turn_s, k % 2) for k in range(turns)]
    with av.open(out, "w") as c:
        vs = c.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"crf": "20", "preset": "veryfast", "g": "50"}
        aus = c.add_stream("aac", rate=RATE)
        aus.layout = "mono"
        canvas = np.full((H, W, 3), 24, np.uint8)
        sound = np.zeros(int(turns * turn_s * RATE), np.float32)
        pts = 0
        for start, _, who in plan:
            frames, audio = people[who]
            for i in range(n_turn):
                for tile in (0, 1):
                    src = people[tile][0]
                    img = src[i % len(src)] if tile == who else src[0]
                    canvas[(H - TILE) // 2:(H + TILE) // 2, tile * TILE:(tile + 1) * TILE] = img
                frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
                frame.pts, frame.time_base = pts, Fraction(1, FPS)
                pts += 1
                c.mux(vs.encode(frame))
            a = int(start * RATE)
            take = audio[: int(turn_s * RATE)]
            sound[a: a + take.size] = take
        c.mux(vs.encode(None))
        for i in range(0, sound.size, 1024):
            block = sound[i: i + 1024]
            af = av.AudioFrame.from_ndarray(block[None, :], format="flt", layout="mono")
            af.sample_rate, af.pts, af.time_base = RATE, i, Fraction(1, RATE)
            c.mux(aus.encode(af))
        c.mux(aus.encode(None))
    return plan


def _speech_db(path: str, hop_s: float = 0.05) -> np.ndarray:
    with av.open(path) as c:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        audio = np.concatenate([g.to_ndarray().reshape(-1) for f in c.decode(audio=0) for g in resampler.resample(f)])
    return rms_envelope_db(audio.astype(np.float32), 16000, hop_s)


def _old_planner():
    code = subprocess.run(["git", "show", f"{OLD_COMMIT}:streamapp/reframe/path.py"], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[1]).stdout
    tmp = Path(tempfile.mkdtemp()) / "old_path.py"
    tmp.write_text(code)
    spec = importlib.util.spec_from_file_location("old_path", tmp)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_path"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _speaker_face(faces, tile: int):
    inside = [f for f in faces if tile * TILE <= f.center[0] < (tile + 1) * TILE]
    return max(inside, key=lambda f: f.area) if inside else None


def _shown(placements, fit: bool, face) -> bool:
    """Whether ``face`` (source px) is fully on screen at >= 15 % of the output height."""
    if fit:
        return face.h * min(OUT_W / W, OUT_H / H) / OUT_H >= 0.15
    for src, dst in placements:
        x, y, w, h = src
        whole = x <= face.x and face.x + face.w <= x + w and y <= face.y and face.y + face.h <= y + h
        if whole and face.h * dst[3] / h / OUT_H >= 0.15:
            return True
    return False


def measure(path: str, turns_: list[tuple[float, float, int]]) -> dict[str, dict]:
    duration = turns_[-1][1]
    analysis = analyze_clip(path, 0.0, duration, sample_fps=4.0)
    crop = center_crop_box(W, H, "9:16")
    db = _speech_db(path)
    new = plan_camera(analysis.samples, duration, W, H, crop[2], crop[3], analysis.cuts_s, out_w=OUT_W,
                      out_h=OUT_H, speech_db=db)
    old_mod = _old_planner()
    old_samples = [old_mod.Sample(s.t, s.faces, s.motion) for s in analysis.samples]
    old = old_mod.plan_camera(old_samples, duration, W, H, crop[2], crop[3], analysis.cuts_s)
    out = {}
    for name, plan in (("this checkout", new), (f"before ({OLD_COMMIT})", old)):
        ok = total = 0
        known: dict[int, object] = {}  # a tile's face, held where the detector missed it this sample
        for s in analysis.samples:
            tile = next(who for a, b, who in turns_ if a <= s.t < b)
            for t in (0, 1):
                known[t] = _speaker_face(s.faces, t) or known.get(t)
            face = known[tile] or _speaker_face(
                next(x.faces for x in analysis.samples if _speaker_face(x.faces, tile)), tile)
            total += 1
            fit = plan.shot_at(s.t).layout == "fit"
            if hasattr(plan, "placements_at"):
                placements = [(p.src, p.dst) for p in plan.placements_at(s.t)]
            else:
                placements = [(plan.box_at(s.t), (0, 0, OUT_W, OUT_H))]
            ok += _shown(placements, fit, face)
        layouts = sorted({shot.layout for shot in plan.shots})
        out[name] = {"layouts": ", ".join(layouts), "shown": ok / max(1, total), "samples": total}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turn", type=float, default=5.0)
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--out", default="/tmp/bench-call.mp4")
    args = ap.parse_args()
    turns_ = compose_call(args.out, args.turn, args.turns)
    print(f"machine: {machine()}; call: {args.out} ({args.turns} turns of {args.turn:.0f} s, 1280x720)")
    print("| planner | layouts | speaker's face on screen at >= 15 % of the output height | samples |")
    print("|---|---|---|---|")
    for name, r in measure(args.out, turns_).items():
        print(f"| {name} | {r['layouts']} | {100 * r['shown']:.1f} % | {r['samples']} |")


if __name__ == "__main__":
    main()
