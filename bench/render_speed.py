"""Render speed: our PyAV renderer vs. the equivalent ffmpeg CLI command, side by side in one run.

Usage: python bench/render_speed.py [SOURCE] [--start 5] [--dur 20] [--reps 2]
Needs the ffmpeg CLI (bench only: apt-get install -y ffmpeg). Prints frames/s and, per rep, the ratio of
ours to ffmpeg run back to back (order alternating), with the median over reps; also CPU ms per frame
(user+sys, all threads), which a shared machine's load disturbs far less than wall time.

The ffmpeg side is the command that makes the same clip: the same crop path (each split panel's too),
scale, x264 settings and, since our clips' sound is mastered to -14 LUFS / -1 dBTP, ffmpeg's two-pass
linear loudnorm to the same target (a measuring pass over the clip's audio, then the render). With
``--sound as-is`` both sides leave the sound as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import pysubs2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamapp.captions import PRESETS, CaptionBurner, clip_words, glyph_backend, group_lines  # noqa: E402
from streamapp.export.render import RenderParams, output_size, render_clip  # noqa: E402

DEFAULT_SOURCE = "/work/shared/media/files/speech-green-screen.mp4"
TEXT = [
    "so", "here", "is", "the", "thing", "nobody", "tells", "you", "about",
    "making", "3", "short", "clips", "from", "one", "long", "video", "every", "week",
]


def fake_words(start: float, end: float) -> list[dict]:
    """A transcript with a word every 0.4 s (speech-like density) over the range."""
    out, t, i = [], start, 0
    while t < end:
        out.append({"start_s": round(t, 3), "end_s": round(t + 0.32, 3), "text": TEXT[i % len(TEXT)]})
        t += 0.4
        i += 1
    return out


def write_ass(words: list[dict], start: float, end: float, w: int, h: int, path: str) -> None:
    """The same lines as an ASS file with per-word karaoke (\\k) timing, for ffmpeg's ass filter."""
    style = PRESETS["bold"]
    burner = CaptionBurner([], style, w, h)
    lines = group_lines(clip_words(words, start, end), style.max_words, burner.measure, burner.max_line_width,
                        duration_s=end - start)
    subs = pysubs2.SSAFile()
    subs.info["PlayResX"], subs.info["PlayResY"] = str(w), str(h)
    subs.styles["Default"] = pysubs2.SSAStyle(
        fontname="DejaVu Sans", fontsize=int(style.size * min(w, h) * 1.3), bold=True,
        primarycolor=pysubs2.Color(255, 214, 0), secondarycolor=pysubs2.Color(255, 255, 255),
        outlinecolor=pysubs2.Color(0, 0, 0), outline=max(1, int(style.stroke_width * style.size * min(w, h))),
        alignment=pysubs2.Alignment.MIDDLE_CENTER, marginv=0,
    )
    cy = int(style.position * h)
    for ln in lines:
        parts = [f"{{\\pos({w // 2},{cy})}}"]
        for word in ln.words:
            parts.append(f"{{\\k{max(1, round((word.end - word.start) * 100))}}}{word.text.upper()} ")
        subs.append(pysubs2.SSAEvent(start=round(ln.start * 1000), end=round(ln.end * 1000), text="".join(parts)))
    subs.save(path)


def count_frames(path: str) -> int:
    with av.open(path) as c:
        return sum(1 for _ in c.demux(c.streams.video[0]) if _.size)


def crop_expr(path: list[dict], key: str) -> str:
    """ffmpeg expression for the crop's ``key`` ("x" or "y") at frame time t: our crop path's keyframes,
    linearly interpolated between them as our renderer does, so ffmpeg encodes the same moving picture."""
    expr = str(path[-1][key])
    for a, b in reversed(list(zip(path, path[1:], strict=False))):
        t0, t1, v0, v1 = a["t_s"], b["t_s"], a[key], b[key]
        seg = str(v0) if v0 == v1 or t1 <= t0 else f"({v0}+({v1 - v0})*(t-{t0})/{t1 - t0:.6f})"
        expr = f"if(lt(t,{t1}),{seg},{expr})"
    return expr


def crop_filter(path: list[dict], size: tuple[int, int]) -> str:
    """ffmpeg's crop (moving along ``path`` when it moves) and bicubic scale to ``size``."""
    w, h = path[0]["w"], path[0]["h"]
    x, y = path[0]["x"], path[0]["y"]
    if len(path) > 1:
        x, y = f"'{crop_expr(path, 'x')}'", f"'{crop_expr(path, 'y')}'"
    return f"crop={w}:{h}:{x}:{y},scale={size[0]}:{size[1]}:flags=bicubic"


LOUDNORM = "loudnorm=I=-14:TP=-1:LRA=50"  # our mastering's target; LRA wide so loudnorm stays linear


def loudnorm_measured(src: str, start: float, dur: float) -> str:
    """ffmpeg's first loudnorm pass over the clip's audio: the filter for the second, linear pass."""
    run = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-ss", f"{start}", "-i", src, "-t", f"{dur}",
                          "-vn", "-af", f"{LOUDNORM}:print_format=json", "-f", "null", "-"],
                         check=True, capture_output=True, text=True)
    m = json.loads(run.stderr[run.stderr.rindex("{"):run.stderr.rindex("}") + 1])
    return (f"{LOUDNORM}:linear=true:measured_I={m['input_i']}:measured_TP={m['input_tp']}:"
            f"measured_LRA={m['input_lra']}:measured_thresh={m['input_thresh']}:offset={m['target_offset']}")


def run_ffmpeg(src: str, start: float, dur: float, size: tuple, out: str, ass: str | None,
               path: list[dict], panels: list[dict], master: bool) -> float:
    """The same clip through the ffmpeg CLI: one crop following ``path``, or (split) each panel's crop
    stacked; with ``master``, the two loudnorm passes (both timed)."""
    if panels:
        labels = [f"p{i}" for i in range(len(panels))]
        vf = f"split={len(panels)}" + "".join(f"[i{i}]" for i in range(len(panels))) + ";" + "".join(
            f"[i{i}]{crop_filter(p['crop_path'], (p['w'], p['h']))}[{lab}];" for i, (p, lab) in
            enumerate(zip(panels, labels, strict=True))) + "".join(f"[{lab}]" for lab in labels) + \
            f"vstack={len(panels)}"
    else:
        vf = crop_filter(path, size)
    if ass:
        vf += f",ass={ass}"
    t0 = time.perf_counter()
    af = ["-af", loudnorm_measured(src, start, dur)] if master else []
    cmd = [
        "ffmpeg", "-y", "-loglevel", "error", "-ss", f"{start}", "-i", src, "-t", f"{dur}", "-filter_complex", vf,
        *af, "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-movflags", "+faststart", out,
    ]
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source", nargs="?", default=DEFAULT_SOURCE)
    ap.add_argument("--start", type=float, default=5.0)
    ap.add_argument("--dur", type=float, default=20.0)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--aspect", default="9:16")
    ap.add_argument("--sound", choices=("mastered", "as-is"), default="mastered",
                    help="mastered: both sides normalise loudness to -14 LUFS (our default); as-is: neither does")
    args = ap.parse_args()
    master = args.sound == "mastered"
    if not shutil.which("ffmpeg"):
        sys.exit("ffmpeg CLI not found: apt-get install -y ffmpeg (bench only)")
    size = output_size(args.aspect, 1920)
    start, end = args.start, args.start + args.dur
    words = fake_words(start, end)
    # As in the pipeline, the shot cuts come from the extract stage, before (and outside) the render.
    from streamapp.stages.extract import AnalysisParams, extract

    signals = extract(args.source, AnalysisParams(faces=False))
    cuts = [c for c in signals.cuts_s if start < c < end]
    # Who speaks, for the active-speaker and split layouts (as the export stage passes it).
    speech_db = signals.loudness_db[round(start / signals.hop_s):round(end / signals.hop_s) + 1]
    params = RenderParams(*size, crf=23, preset="veryfast", loudness_lufs=-14.0 if master else None)
    tmp = tempfile.mkdtemp(prefix="bench-render-")
    ass = os.path.join(tmp, "caps.ass")
    write_ass(words, start, end, *size, ass)
    print(f"source {args.source}, {args.dur:.0f} s from {start:.0f} s, {args.aspect} -> {size[0]}x{size[1]}, "
          f"veryfast crf 23, AAC 128k; glyphs: {glyph_backend(PRESETS['bold'])}")
    fps_of: dict[str, list[float]] = {}
    cpu_of: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {"plain": [], "captions": []}
    path: list[dict] = []
    panels: list[dict] = []
    layout = "?"
    for rep in range(args.reps):
        # Alternate who goes first, so a load spike on the shared machine does not always hit the same side.
        for caps in (False, True):
            order = ("ours", "ffmpeg") if rep % 2 == 0 else ("ffmpeg", "ours")
            if not path and not panels:
                order = ("ours", "ffmpeg")  # ffmpeg needs the crop path that our render planned
            rep_fps = {}
            for who in order:
                name = who + ("+captions" if caps else "")
                out = os.path.join(tmp, f"{name}.mp4")
                ru0 = resource.getrusage(resource.RUSAGE_SELF if who == "ours" else resource.RUSAGE_CHILDREN)
                if who == "ours":
                    t0 = time.perf_counter()
                    r = render_clip(args.source, start, end, args.aspect, out, params,
                                    words=words if caps else None, caption_style="bold", cuts_s=cuts,
                                    speech_db=speech_db)
                    wall = time.perf_counter() - t0
                    path, panels, layout = r.crop_path, r.panels, r.layout
                    if len({(c["w"], c["h"]) for c in path}) > 1:
                        sys.exit("the clip's crop changes size (more than one layout): ffmpeg has no equivalent "
                                 "single command; pick a range of one layout")
                else:
                    wall = run_ffmpeg(args.source, start, args.dur, size, out, ass if caps else None, path, panels,
                                      master)
                ru1 = resource.getrusage(resource.RUSAGE_SELF if who == "ours" else resource.RUSAGE_CHILDREN)
                cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
                n = count_frames(out)
                rep_fps[who] = n / wall
                fps_of.setdefault(name, []).append(n / wall)
                cpu_of.setdefault(name, []).append(cpu / n * 1000)
                print(f"  rep {rep + 1} {name:16s} {n / wall:6.1f} frames/s ({wall:.1f} s, cpu {cpu:.1f} s)")
            ratios["captions" if caps else "plain"].append(rep_fps["ours"] / rep_fps["ffmpeg"])
    med = statistics.median
    keys = [len(p["crop_path"]) for p in panels] if panels else [len(path)]
    sound = "two-pass loudnorm to -14 LUFS, as ours" if master else "sound as it is, as ours"
    print(f"layout {layout}; ffmpeg follows the same crop path(s), {keys} keyframes; {sound}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"median of {args.reps}: " + ", ".join(f"{k} {med(v):.1f} fps ({med(cpu_of[k]):.1f} cpu-ms/frame)"
                                                 for k, v in fps_of.items()))
    for key, target in (("plain", 0.9), ("captions", 0.75)):
        rs = ratios[key]
        cpu_ratio = med(cpu_of["ffmpeg" + ("+captions" if key == "captions" else "")]) / med(
            cpu_of["ours" + ("+captions" if key == "captions" else "")])
        print(f"ratio {key:9s} median {med(rs):.2f}x (per rep {', '.join(f'{x:.2f}' for x in rs)}; "
              f"min {min(rs):.2f}) target >= {target}; cpu-time ratio {cpu_ratio:.2f}x")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
