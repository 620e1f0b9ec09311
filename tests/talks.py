"""Generated talks: espeak-ng sentences with exact times, joined by silence, as H.264/AAC video (a helper,
not a test module). Each sentence's audible span is known to the sample, so clip edges can be checked
against what is said."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

TALK_RATE = 22050
VOICE_FLOOR = 1e-3  # a sample above -60 dBFS is voice: the sentence spans below are the audible ones

SENTENCES = [
    ("Welcome back to the show, today we talk about rivers.", "en-us", 165),
    ("Most of them start high up in the mountains.", "en-gb", 150),
    ("Rain and melting snow feed them all year long.", "en-us", 175),
    ("Why do some rivers flood every single spring?", "en-gb-scotland", 160),
    ("The answer is simple, the ground is still frozen.", "en-us", 155),
    ("Water cannot sink in, so it runs off the surface.", "en-gb", 170),
    ("Engineers build levees to hold it back.", "en-us", 160),
    ("But levees also push the water further downstream.", "en-gb-x-rp", 150),
    ("That is the surprising part of the story.", "en-us", 165),
    ("Thanks for listening, and see you next week.", "en-gb", 160),
]
PAUSES = [0.45, 0.9, 0.35, 1.1, 0.6, 0.3, 0.8, 0.5, 1.2]


def espeak_sentence(text: str, voice: str = "en-us", speed: int = 160) -> np.ndarray:
    """One sentence from espeak-ng, trimmed to its audible samples (float32 at TALK_RATE)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install -y espeak-ng): the speech tests need it")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.wav"
        subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(out), text], check=True, capture_output=True)
        with wave.open(str(out)) as w:
            assert w.getframerate() == TALK_RATE and w.getnchannels() == 1
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
    loud = np.flatnonzero(np.abs(x) > VOICE_FLOOR)
    return x[loud[0] : loud[-1] + 1]


def make_talk(path: str | Path, sentences=SENTENCES, pauses=PAUSES, lead_s: float = 0.8, tail_s: float = 1.0,
              cuts_s: tuple[float, ...] = (), fps: int = 10, size: tuple[int, int] = (128, 72),
              picture: Callable[[int, int], np.ndarray] | None = None) -> dict:
    """Write an H.264/AAC MP4 of espeak sentences joined by digital silence; return each sentence's
    audible span (seconds) and the cut times (frame-exact).

    A cut at t changes the picture's colour at frame round(t * fps). ``picture(frame, shot)``, when given,
    draws each frame instead (rgb, ``size``)."""
    parts, spans, t = [np.zeros(int(round(lead_s * TALK_RATE)), np.float32)], [], lead_s
    for k, (text, voice, speed) in enumerate(sentences):
        x = espeak_sentence(text, voice, speed)
        spans.append((t, t + x.size / TALK_RATE, text))
        parts.append(x)
        t += x.size / TALK_RATE
        gap = pauses[k] if k < len(pauses) else tail_s
        parts.append(np.zeros(int(round(gap * TALK_RATE)), np.float32))
        t += int(round(gap * TALK_RATE)) / TALK_RATE
    audio = np.concatenate(parts)
    n_frames = int(np.ceil(audio.size / TALK_RATE * fps))
    audio = np.concatenate([audio, np.zeros(int(round(n_frames / fps * TALK_RATE)) - audio.size, np.float32)])
    cut_frames = sorted({int(round(c * fps)) for c in cuts_s if 0 < round(c * fps) < n_frames})
    _write_av(str(path), audio, n_frames, fps, size, cut_frames, picture)
    return {"path": str(path), "duration_s": n_frames / fps, "sentences": spans,
            "cuts_s": [f / fps for f in cut_frames]}


def _write_av(path: str, audio: np.ndarray, n_frames: int, fps: int, size: tuple[int, int],
              cut_frames: list[int], picture: Callable[[int, int], np.ndarray] | None = None) -> None:
    palette = [(200, 40, 40), (30, 160, 60), (40, 60, 210), (230, 210, 50), (220, 220, 230)]
    with av.open(path, mode="w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=Fraction(fps, 1))
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "23"}
        aus = out.add_stream("aac", rate=TALK_RATE)
        aus.layout = "mono"
        aus.time_base = Fraction(1, TALK_RATE)
        pos, chunk = 0, 1024
        for i in range(n_frames):
            shot = int(np.searchsorted(cut_frames, i, side="right"))
            if picture is not None:
                img = picture(i, shot)
            else:
                img = np.zeros((size[1], size[0], 3), np.uint8) + np.array(palette[shot % len(palette)], np.uint8)
                img[:, (2 * i) % size[0]] = 255  # a moving line: a little in-shot motion
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(vs.encode(frame))
            want = min(int(round((i + 1) / fps * TALK_RATE)), audio.size)
            while pos < want:
                block = audio[pos : pos + chunk]
                af = av.AudioFrame.from_ndarray(block[None, :], format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = TALK_RATE, pos, aus.time_base
                out.mux(aus.encode(af))
                pos += block.size
        out.mux(vs.encode(None))
        out.mux(aus.encode(None))
