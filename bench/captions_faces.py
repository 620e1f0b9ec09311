"""Captions over faces, and faces a viewer (and a detector) can see, on real talking heads.

Usage: python bench/captions_faces.py [VIDEO ...]   (default: the talking heads and the film in ../shared/media)

Each file is transcribed (Whisper tiny.en, as the pipeline does) and rendered whole as a 9:16 clip twice:
captions burned in, and without them. Output frames are sampled at 4 per second; faces are found with
the pipeline's detector on the caption-free render (the truth of where faces are). It prints, side by side:
- the share of face frames whose eyes-to-chin box a caption covers, for the placed captions (from the
  manifest's caption boxes) and for the fixed band used before (the style's position, same line size);
- the share of sampled frames with a detectable face in the captioned clip and in the caption-free one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from streamapp.analysis.transcript import AsrParams, default_model_dir, transcribe  # noqa: E402
from streamapp.captions.styles import resolve_style  # noqa: E402
from streamapp.export.render import RenderParams, output_size, render_clip  # noqa: E402
from streamapp.vision.faces import detect_faces  # noqa: E402

MEDIA = Path("/work/shared/media/files")
DEFAULT = [MEDIA / "faces/retalking-face-1.mp4", MEDIA / "faces/retalking-face-2.mp4",
           MEDIA / "faces/retalking-face-3.mp4", MEDIA / "chaplin.mp4"]
SAMPLE_FPS = 4.0
DETECT_H = 480


def _frames(path: str) -> list[tuple[float, np.ndarray]]:
    """(clip time, grey frame at DETECT_H) sampled SAMPLE_FPS times a second."""
    out, next_t = [], 0.0
    with av.open(path) as c:
        for f in c.decode(video=0):
            if f.time is None or f.time + 1e-6 < next_t:
                continue
            next_t = f.time + 1.0 / SAMPLE_FPS
            out.append((float(f.time), f.to_ndarray(format="gray")))
    return out


def _faces(grey: np.ndarray) -> list[tuple[float, float, float, float]]:
    import cv2

    scale = grey.shape[0] / DETECT_H
    small = cv2.resize(grey, (round(grey.shape[1] / scale), DETECT_H), interpolation=cv2.INTER_AREA)
    return [(f.x * scale, f.y * scale, f.w * scale, f.h * scale) for f in detect_faces(small, 0.04)]


def _hits(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def _box_at(boxes: list[dict], t: float) -> tuple[float, float, float, float] | None:
    for b in boxes:
        if b["start_s"] <= t < b["end_s"]:
            return b["x"], b["y"], b["w"], b["h"]
    return None


def measure(video: Path, workdir: Path) -> dict:
    asr = AsrParams(model_dir=default_model_dir() or "")
    words = transcribe(str(video), asr)
    with av.open(str(video)) as c:
        duration = float(c.duration) / av.time_base
    w, h = output_size("9:16", 1920)
    params = RenderParams(w, h)
    shown = render_clip(str(video), 0.0, duration - 0.05, "9:16", str(workdir / f"{video.stem}-cap.mp4"), params,
                        words=words)
    bare = render_clip(str(video), 0.0, duration - 0.05, "9:16", str(workdir / f"{video.stem}-bare.mp4"), params,
                       words=words, burn_captions=False)
    style = resolve_style(None)
    face_frames = covered_new = covered_old = 0
    seen_bare = seen_cap = total = 0
    for (t, grey_bare), (_, grey_cap) in zip(_frames(bare.path), _frames(shown.path), strict=False):
        total += 1
        faces = _faces(grey_bare)
        seen_bare += bool(faces)
        seen_cap += bool(_faces(grey_cap))
        box = _box_at(shown.caption_boxes, t)
        if not faces or box is None:
            continue
        face_frames += 1
        covered_new += any(_hits(box, f) for f in faces)
        # The band captions used before: the same line, centred on the style's fixed position.
        old = (box[0], style.position * h - box[3] / 2, box[2], box[3])
        covered_old += any(_hits(old, f) for f in faces)
    return {"file": video.name, "words": len(words), "layout": shown.layout, "face_frames": face_frames,
            "covered_new": covered_new, "covered_old": covered_old, "frames": total,
            "seen_bare": seen_bare, "seen_cap": seen_cap}


def pct(n: int, d: int) -> str:
    return f"{100.0 * n / d:.1f} %" if d else "-"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="*", type=Path, default=DEFAULT)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print("| file | words | layout | face frames with a caption up | covered, placed | covered, fixed band (before) "
          "| frames with a face, captioned | caption-free |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for video in args.videos:
            r = measure(video, Path(tmp))
            print(f"| {r['file']} | {r['words']} | {r['layout']} | {r['face_frames']} | "
                  f"{pct(r['covered_new'], r['face_frames'])} | {pct(r['covered_old'], r['face_frames'])} | "
                  f"{pct(r['seen_cap'], r['frames'])} | {pct(r['seen_bare'], r['frames'])} |")


if __name__ == "__main__":
    main()
