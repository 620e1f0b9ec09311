"""Speaker on screen: two-person calls composed from real talking heads, planned by today's and the old planner.

Usage: python bench/speakers.py [--turn 5 1] [--length 20] [--pairs 1,2 2,3 3,1] [--frames DIR]

Two real talking heads (/work/shared/media/files/faces/retalking-face-{1,2,3}.mp4, 5-6 s each with
their own speech) sit side by side in a 1280x720 call, each in a 640x640 tile (composed with PyAV:
the same as ffmpeg hstack + pad). They take turns: the speaker's tile plays (looping) with its sound;
the listener's tile holds its first frame and is muted (a listener whose lips move would be a harder
case). For every frame time (25/s) and every pre-pass sample (4/s) we know who speaks. Printed for
the planner of this checkout and for the planner before speaker layouts (commit cd25136; HEAD already
holds the new one): the layouts chosen, where the crop cuts, and the share of clip time in which the
speaker's face box is wholly on screen at >= 15 % of the 9:16 output height (1080x1920). Then the
lone talking heads: the whole face box (full-resolution detection every 0.1 s) inside the crop.
``--frames DIR`` writes a few output frames per call (ffmpeg crop/scale/vstack of the plan's placements).
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
from streamapp.export.render import center_crop_box  # noqa: E402
from streamapp.kernels.loudness import rms_envelope_db  # noqa: E402
from streamapp.reframe.analysis import analyze_clip  # noqa: E402
from streamapp.reframe.path import plan_camera  # noqa: E402
from streamapp.vision.faces import detect_faces  # noqa: E402

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


def compose_call(out: str, turn_s: float, turns: int, pair: tuple[int, int] = (1, 2)) -> list[tuple[float, float, int]]:
    """Write the call; returns its turns as (start, end, tile) with tile 0 = left, 1 = right."""
    people = [_clip(FACES / f"retalking-face-{pair[0]}.mp4"), _clip(FACES / f"retalking-face-{pair[1]}.mp4")]
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


def _held_faces(samples, tile: int) -> list:
    """The tile's face at each sample: held over the detector's misses (the first sighting fills the start)."""
    faces = [_speaker_face(s.faces, tile) for s in samples]
    first = next((f for f in faces if f is not None), None)
    out, last = [], first
    for f in faces:
        last = f or last
        out.append(last)
    return out


def measure(path: str, turns_: list[tuple[float, float, int]]) -> dict[str, dict]:
    """Per planner: layouts, and the share of frame times (FPS) and of samples where the speaker is shown."""
    duration = turns_[-1][1]
    analysis = analyze_clip(path, 0.0, duration, sample_fps=4.0)
    area = analysis.picture()  # samples and plans in the picture inside any black borders, as the render plans
    crop = center_crop_box(area.w, area.h, "9:16")
    db = _speech_db(path)
    new = plan_camera(analysis.samples, duration, area.w, area.h, crop[2], crop[3], analysis.cuts_s, out_w=OUT_W,
                      out_h=OUT_H, speech_db=db)
    old_mod = _old_planner()
    old_samples = [old_mod.Sample(s.t, s.faces, s.motion) for s in analysis.samples]
    old = old_mod.plan_camera(old_samples, duration, area.w, area.h, crop[2], crop[3], analysis.cuts_s)
    times = np.array([s.t for s in analysis.samples])
    held = [_held_faces(analysis.samples, tile) for tile in (0, 1)]
    frame_t = np.arange(0.0, duration - 1e-6, 1.0 / FPS)
    out = {}
    for name, plan in (("this checkout", new), (f"before ({OLD_COMMIT})", old)):
        def shown_at(t: float, plan=plan) -> bool:
            tile = next(who for a, b, who in turns_ if a <= t < b)
            face = held[tile][int(np.argmin(np.abs(times - t)))]  # the speaker's face at the nearest sample
            fit = plan.shot_at(t).layout == "fit"
            if hasattr(plan, "placements_at"):
                placements = [(p.src, p.dst) for p in plan.placements_at(t)]
            else:
                placements = [(plan.box_at(t), (0, 0, OUT_W, OUT_H))]
            return _shown(placements, fit, face)

        frames = [shown_at(float(t)) for t in frame_t]
        at_samples = [shown_at(float(t)) for t in times]
        layouts = sorted({shot.layout for shot in plan.shots})
        cuts = [round(p[0], 2) for shot in plan.shots for p, q in zip(shot.points, shot.points[1:], strict=False)
                if p[0] == q[0]]
        out[name] = {"layouts": ", ".join(layouts), "time": float(np.mean(frames)), "frames": len(frames),
                     "samples": float(np.mean(at_samples)), "n_samples": len(at_samples), "crop_cuts": cuts,
                     "plan": plan}
    return out


def single_heads() -> list[dict]:
    """Face-in-crop on the lone talking heads: the whole face box (full-resolution YuNet every 0.1 s) inside
    the 9:16 crop the planner chose, and that face's height in the output."""
    rows = []
    for k in (1, 2, 3):
        path = str(FACES / f"retalking-face-{k}.mp4")
        with av.open(path) as c:
            vin = c.streams.video[0]
            w, h = vin.codec_context.width, vin.codec_context.height
            dur = float(vin.duration * vin.time_base) if vin.duration else float(c.duration / 1e6)
        analysis = analyze_clip(path, 0.0, dur, sample_fps=4.0)
        area = analysis.picture()  # the plan's pixels: the picture inside any black borders
        crop = center_crop_box(area.w, area.h, "9:16")
        plan = plan_camera(analysis.samples, dur, area.w, area.h, crop[2], crop[3], analysis.cuts_s, out_w=OUT_W,
                           out_h=OUT_H)
        seen = inside = 0
        heights = []
        next_t = 0.0
        with av.open(path) as c:
            for f in c.decode(video=0):
                t = float(f.pts * f.time_base)
                if t + 1e-6 < next_t:
                    continue
                next_t = t + 0.1
                faces = detect_faces(f.to_ndarray(format="gray"))
                if not faces:
                    continue
                face = max(faces, key=lambda x: x.area)
                seen += 1
                x, y, cw, ch = plan.box_at(t)
                x, y = x + area.x, y + area.y  # faces were found in the whole frame
                inside += x <= face.x and face.x + face.w <= x + cw and y <= face.y and face.y + face.h <= y + ch
                heights.append(face.h / ch)
        rows.append({"file": Path(path).name, "size": f"{w}x{h}", "layouts": ", ".join(sorted({s.layout for s in
                     plan.shots})), "frames": seen, "inside": inside / max(1, seen),
                     "face_h": float(np.median(heights)) if heights else 0.0})
    return rows


def save_frames(call: str, plan, times: list[float], out_dir: str, tag: str) -> list[str]:
    """The planner's output frames at ``times`` (crops scaled to 1080x1920, split panels stacked) as PNGs."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    paths = []
    for t in times:
        parts = []
        for i, p in enumerate(plan.placements_at(t)):
            x, y, w, h = p.src
            parts.append(f"[0:v]crop={w}:{h}:{x}:{y},scale={p.dst[2]}:{p.dst[3]}[p{i}]")
        n = len(parts)
        if n == 0:
            graph = f"[0:v]scale={OUT_W}:-2,pad={OUT_W}:{OUT_H}:(ow-iw)/2:(oh-ih)/2[o]"
        elif n == 1:
            graph = parts[0].replace("[p0]", "[o]")
        else:
            graph = ";".join(parts) + ";" + "".join(f"[p{i}]" for i in range(n)) + f"vstack={n}[o]"
        out = str(Path(out_dir) / f"{tag}-{t:05.2f}.png")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", f"{t:.3f}", "-i", call, "-filter_complex", graph,
                        "-map", "[o]", "-frames:v", "1", "-an", out], check=True)
        paths.append(out)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turn", type=float, nargs="*", default=[5.0, 1.0], help="turn lengths (s), one call each")
    ap.add_argument("--length", type=float, default=20.0, help="call length (s)")
    ap.add_argument("--pairs", nargs="*", default=["1,2", "2,3", "3,1"], help="talking heads left,right")
    ap.add_argument("--frames", default="", help="directory for a few PNG output frames per call")
    args = ap.parse_args()
    print(f"machine: {machine()}; calls 1280x720 (two 640x640 tiles), output {OUT_W}x{OUT_H}")
    print("| pair | turns | planner | layouts | crop cuts (s) | speaker shown >= 15 % of the height: clip time "
          "(frames at 25/s) | at samples (4/s) |")
    print("|---|---|---|---|---|---|---|")
    for pair_s in args.pairs:
        pair = tuple(int(v) for v in pair_s.split(","))
        for turn in args.turn:
            n = max(2, int(round(args.length / turn)))
            call = f"/tmp/bench-call-{pair[0]}{pair[1]}-{turn:g}s.mp4"
            turns_ = compose_call(call, turn, n, pair)
            for name, r in measure(call, turns_).items():
                cuts = ", ".join(f"{c:g}" for c in r["crop_cuts"]) or "-"
                print(f"| {pair[0]}+{pair[1]} | {n} x {turn:g} s | {name} | {r['layouts']} | {cuts} | "
                      f"{100 * r['time']:.1f} % ({r['frames']}) | {100 * r['samples']:.1f} % ({r['n_samples']}) |")
                if args.frames and name == "this checkout":
                    ts = [turn * k + d for k in range(min(n, 3)) for d in (0.02, turn / 2)]
                    save_frames(call, r["plan"], ts, args.frames, Path(call).stem)
    print()
    print("| talking head | size | layouts | frames with a face (10/s) | whole face box in the crop "
          "| face / output height |")
    print("|---|---|---|---|---|---|")
    for r in single_heads():
        print(f"| {r['file']} | {r['size']} | {r['layouts']} | {r['frames']} | {100 * r['inside']:.1f} % | "
              f"{100 * r['face_h']:.0f} % |")


if __name__ == "__main__":
    main()
