"""Synthetic test videos with known cuts, silences and a loud burst (a helper, not a test module)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 48000
TONE_DB = -20.0  # RMS level of the steady tone
BURST_PEAK_DB = -3.0  # peak level of the loud noise burst

# Adjacent shots get very different base colours so every cut is an unmistakable jump.
_PALETTE = [
    (200, 40, 40),
    (30, 160, 60),
    (40, 60, 210),
    (230, 210, 50),
    (20, 20, 20),
    (220, 220, 230),
    (150, 50, 170),
    (40, 190, 200),
]


def _frame_rgb(index: int, shot: int, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    base = np.array(_PALETTE[shot % len(_PALETTE)], dtype=np.float32)
    # A soft diagonal gradient that slides 2 px per frame: in-shot motion is small but not zero.
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    phase = (xs + ys + 2.0 * index) * (2 * np.pi / 64.0)
    shade = 20.0 * np.sin(phase)
    img = base[None, None, :] + shade[:, :, None]
    # A bright square that moves across the frame, with a per-shot starting point.
    side = max(4, h // 6)
    x0 = int((index * 3 + shot * 37) % max(1, w - side))
    y0 = int((shot * 53) % max(1, h - side))
    img[y0 : y0 + side, x0 : x0 + side, :] = 255.0 - base
    return np.clip(img, 0, 255).astype(np.uint8)


def _audio(
    n: int,
    silences: tuple[tuple[float, float], ...],
    burst: tuple[float, float] | None,
    tone_hz: float,
    seed: int,
) -> np.ndarray:
    t = np.arange(n, dtype=np.float64) / AUDIO_RATE
    amp = np.sqrt(2.0) * 10 ** (TONE_DB / 20.0)  # sine peak for the wanted RMS
    sig = (amp * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
    if burst is not None:
        a, b = (int(round(x * AUDIO_RATE)) for x in burst)
        rng = np.random.default_rng(seed)
        peak = 10 ** (BURST_PEAK_DB / 20.0)
        sig[a:b] = rng.uniform(-peak, peak, size=max(0, min(b, n) - a)).astype(np.float32)
    for s0, s1 in silences:
        a, b = (int(round(x * AUDIO_RATE)) for x in (s0, s1))
        sig[a:b] = 0.0  # digital silence
    return sig


def make_test_video(
    path: str | Path,
    *,
    duration_s: float = 40.0,
    fps: int = 25,
    size: tuple[int, int] = (320, 180),
    cuts_s: tuple[float, ...] = (5.0, 12.4, 21.0, 30.6),
    silences: tuple[tuple[float, float], ...] = ((8.0, 9.0), (25.3, 26.1)),
    burst: tuple[float, float] | None = (14.0, 19.0),
    audio: bool = True,
    tone_hz: float = 220.0,
    seed: int = 1,
    faststart: bool = False,
) -> dict:
    """Write an H.264/AAC MP4 and return its ground truth.

    A cut at time t happens exactly at frame ``round(t * fps)``; the returned ``cuts_s`` are those
    frames' times. Audio is a -20 dBFS RMS tone, digital silence in ``silences`` and -3 dBFS-peak
    noise in ``burst``. ``faststart`` puts the index first, so a truncated copy still opens.
    """
    path = str(path)
    n_frames = int(round(duration_s * fps))
    cut_frames = sorted({int(round(c * fps)) for c in cuts_s if 0 < round(c * fps) < n_frames})
    n_samples = int(round(n_frames / fps * AUDIO_RATE))
    samples = _audio(n_samples, silences, burst, tone_hz, seed) if audio else None

    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(path, mode="w", format="mp4", options=options) as out:
        vs = out.add_stream("libx264", rate=Fraction(fps, 1))
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.time_base = Fraction(1, fps * 512)
        vs.options = {"preset": "ultrafast", "crf": "20"}
        aus = None
        if samples is not None:
            aus = out.add_stream("aac", rate=AUDIO_RATE)
            aus.layout = "stereo"
            aus.time_base = Fraction(1, AUDIO_RATE)
        audio_pos = 0
        chunk = 1024
        shot = 0
        for i in range(n_frames):
            while shot < len(cut_frames) and i >= cut_frames[shot]:
                shot += 1
            frame = av.VideoFrame.from_ndarray(_frame_rgb(i, shot, size), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i * 512
            frame.time_base = vs.time_base
            out.mux(vs.encode(frame))
            # Keep audio interleaved with video so the muxer never buffers much.
            want = int(round((i + 1) / fps * AUDIO_RATE))
            while aus is not None and audio_pos < min(want, n_samples):
                block = samples[audio_pos : audio_pos + chunk]
                af = av.AudioFrame.from_ndarray(np.vstack([block, block]), format="fltp", layout="stereo")
                af.sample_rate = AUDIO_RATE
                af.pts = audio_pos
                af.time_base = aus.time_base
                out.mux(aus.encode(af))
                audio_pos += block.size
        out.mux(vs.encode(None))
        if aus is not None:
            out.mux(aus.encode(None))

    return {
        "path": path,
        "duration_s": n_frames / fps,
        "fps": fps,
        "size": size,
        "n_frames": n_frames,
        "cuts_s": [f / fps for f in cut_frames],
        "silences": [tuple(s) for s in silences] if audio else [],
        "burst": burst if audio else None,
        "has_audio": audio,
    }


def _shot_picture(index: int, shot: int, size: tuple[int, int]) -> np.ndarray:
    """A textured, slowly moving picture per shot (float32 RGB) so dissolves have real content."""
    w, h = size
    rng = np.random.default_rng(100 + shot)
    base = np.array(_PALETTE[shot % len(_PALETTE)], dtype=np.float32)
    blobs = rng.uniform(0, 1, size=(6, 3))
    xs = np.arange(w, dtype=np.float32)[None, :] / w
    ys = np.arange(h, dtype=np.float32)[:, None] / h
    img = np.zeros((h, w), dtype=np.float32)
    for bx, by, r in blobs:
        cx = 0.1 + 0.6 * bx + 0.0008 * index  # drifts slowly, never wraps (a wrap would be a real jump)
        img += 80.0 * np.exp(-((xs - cx) ** 2 + (ys - by) ** 2) / (0.02 + 0.05 * r))
    return np.clip(base[None, None, :] * 0.6 + img[:, :, None], 0, 255)


def make_transition_video(
    path: str | Path,
    *,
    fps: int = 25,
    size: tuple[int, int] = (320, 180),
    shots_s: tuple[float, ...] = (3.0, 3.0, 3.0, 3.0),
    transitions: tuple[str, ...] = ("cut", "dissolve", "black"),
    dissolve_s: float = 0.8,
    black_s: float = 0.6,
    codec: str = "libx264",
    container: str = "mp4",
    pix_fmt: str = "yuv420p",
    rotation: int = 0,
    start_pts_s: float = 0.0,
    vfr: bool = False,
    codec_options: dict[str, str] | None = None,
) -> dict:
    """Shots joined by hard cuts, dissolves (linear crossfades) or black frames; returns ground truth.

    ``transitions[i]`` joins shot i and i+1. A dissolve of ``dissolve_s`` is centred on the shot
    boundary; "black" inserts ``black_s`` of black frames. ``vfr`` alternates 1x and 2x frame
    durations; ``start_pts_s`` offsets every timestamp; ``rotation`` writes a display matrix;
    ``codec_options`` replace the encoder options chosen here (GOP shape, B-frames, interlacing).
    """
    path = str(path)
    frames_per_shot = [int(round(s * fps)) for s in shots_s]
    plan: list[tuple[int, int, float]] = []  # (shot a, shot b, mix) per frame; b == -1 means black
    truth: list[dict] = []
    for i, n in enumerate(frames_per_shot):
        plan.extend((i, i, 0.0) for _ in range(n))
        if i < len(transitions) and i + 1 < len(frames_per_shot):
            kind = transitions[i]
            at = len(plan)
            if kind == "cut":
                truth.append({"kind": "cut", "frame": at})
            elif kind == "dissolve":
                m = max(2, int(round(dissolve_s * fps)))
                for j in range(m):
                    plan.append((i, i + 1, (j + 1) / (m + 1)))
                truth.append({"kind": "dissolve", "frame": at, "end_frame": at + m})
            elif kind == "black":
                m = max(1, int(round(black_s * fps)))
                for _ in range(m):
                    plan.append((i, -1, 1.0))
                truth.append({"kind": "black", "frame": at, "end_frame": at + m})
    tb = Fraction(1, fps * 2)
    with av.open(path, mode="w", format=container) as out:
        vs = out.add_stream(codec, rate=Fraction(fps, 1))
        vs.width, vs.height = size
        vs.pix_fmt = pix_fmt
        vs.time_base = tb
        if codec == "libx264":
            vs.options = {"preset": "ultrafast", "crf": "18"}
        elif codec == "libx265":
            vs.options = {"preset": "ultrafast", "x265-params": "log-level=error"}
        elif codec == "libvpx-vp9":
            vs.options = {"deadline": "realtime", "cpu-used": "8", "crf": "30", "b": "0"}
        if codec_options is not None:
            vs.options = codec_options
        if rotation:
            vs.set_display_rotation(rotation)
        pts = int(round(start_pts_s / tb))
        times = []
        for idx, (a, b, mix) in enumerate(plan):
            if b == -1:
                img = np.zeros((size[1], size[0], 3), dtype=np.float32)
            elif a == b:
                img = _shot_picture(idx, a, size)
            else:
                img = (1 - mix) * _shot_picture(idx, a, size) + mix * _shot_picture(idx, b, size)
            frame = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24").reformat(format=pix_fmt)
            frame.pts = pts
            frame.time_base = tb
            times.append(float((pts - int(round(start_pts_s / tb))) * tb))
            out.mux(vs.encode(frame))
            pts += 4 if (vfr and idx % 2) else 2
        out.mux(vs.encode(None))
    for t in truth:
        t["t_s"] = times[t["frame"]]
        if "end_frame" in t:
            t["end_s"] = times[min(t["end_frame"], len(times) - 1)]
    return {"path": path, "fps": fps, "size": size, "times_s": times, "transitions": truth,
            "n_frames": len(plan)}


def make_interlaced_video(path: str | Path, *, duration_s: float = 2.0, fps: int = 25,
                          size: tuple[int, int] = (320, 240)) -> dict:
    """An interlaced H.264 file (top field first) of a bright bar sweeping across: each frame's two
    fields are half a frame apart in time, so any moving edge combs unless it is deinterlaced."""
    path = str(path)
    w, h = size
    n = int(round(duration_s * fps))
    speed = w / (duration_s * fps) * 2  # pixels per field

    def bar_at(x: float) -> np.ndarray:
        row = np.full(w, 30, dtype=np.uint8)
        lo = int(x) % w
        row[lo:lo + w // 8] = 230
        return row

    with av.open(path, mode="w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=Fraction(fps, 1))
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "veryfast", "crf": "16", "x264-params": "interlaced=1:tff=1"}
        for i in range(n):
            img = np.empty((h, w), dtype=np.uint8)
            img[0::2] = bar_at(speed * 2 * i)  # top field: first half of the frame's time
            img[1::2] = bar_at(speed * (2 * i + 1))  # bottom field: half a frame later
            frame = av.VideoFrame.from_ndarray(np.repeat(img[:, :, None], 3, axis=2), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    return {"path": path, "n_frames": n, "fps": fps, "size": size}


def comb_score(luma: np.ndarray) -> float:
    """How much a picture combs: the mean |difference| between each row and the average of the rows
    above and below it (near 0 for a progressive picture; large where fields from different times
    alternate)."""
    y = luma.astype(np.float32)
    adjacent = np.abs(y[1:-1] - 0.5 * (y[:-2] + y[2:])).mean()
    return float(adjacent)
