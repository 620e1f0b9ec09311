"""Export core: cut one clip out of a source, reframe it to an aspect, burn captions, encode H.264/AAC MP4.

One decode pass renders a clip, after a cheap luma-only pre-pass that plans the camera and one read of
the clip's audio that masters its loudness. Frames stay in YUV 4:2:0: each plane is cropped as a numpy
view and scaled straight into the encoder's frame (or into a split panel), so there is no RGB round
trip and no intermediate file.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from streamapp.captions.draw import CaptionBurner
from streamapp.captions.files import remove_caption_files, write_caption_files
from streamapp.captions.styles import CaptionStyle, resolve_style
from streamapp.captions.subtitles import subtitle_cues
from streamapp.captions.timing import clip_words, group_lines
from streamapp.errors import InputError, MediaError
from streamapp.fileio import temp_path_for
from streamapp.media.audio_master import master_audio
from streamapp.media.clip_audio import read_clip_audio
from streamapp.media.decode import seek_before
from streamapp.media.deinterlace import Deinterlacer
from streamapp.media.probe import pick_video_stream, stream_fps, stream_sar, stream_start_s
from streamapp.reframe.analysis import analyze_clip
from streamapp.reframe.borders import Area
from streamapp.reframe.path import CameraPlan, centered_plan, fit_plan, plan_camera

ASPECTS: dict[str, tuple[int, int]] = {"9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5), "16:9": (16, 9)}

AUDIO_RATE = 48000
_AAC_FRAME = 1024
_EPS = 1e-6
_DAMAGED = (av.error.InvalidDataError, av.error.FFmpegError, EOFError)


@dataclass(frozen=True)
class RenderParams:
    width: int
    height: int
    crf: int = 23
    preset: str = "veryfast"
    audio_bitrate: int = 128000
    reframe: bool = True  # follow faces/motion; False = a fixed centre crop
    sample_fps: float = 4.0  # face/motion samples per second in the planning pre-pass
    threads: int = 0  # decoder and encoder threads; 0 = let the codecs choose
    loudness_lufs: float | None = -14.0  # integrated loudness of the clip's sound; None = leave it as it is
    true_peak_db: float = -1.0  # ceiling after the loudness gain (dBTP, 4x oversampled)
    fade_s: float = 0.02  # audio fade at each edge, so a clip never starts or ends on a click
    layout: str = "auto"  # framing asked for by an edit (streamapp.reframe.path.CLIP_LAYOUTS)


@dataclass(frozen=True)
class RenderedClip:
    path: str
    width: int
    height: int
    duration_s: float
    has_audio: bool
    thumbnail: str | None
    crop_path: list[dict[str, float]] = field(default_factory=list)  # keyframes, clip time, source pixels
    captions_srt: str | None = None
    captions_vtt: str | None = None
    captions_reason: str | None = None  # why there are no captions; None when there are
    layout: str = "still"  # the layout covering most of the clip (streamapp.reframe.path.LAYOUTS)
    start_s: float = 0.0  # media time of the first frame: the clip's true start
    end_s: float = 0.0  # start_s + duration_s
    panels: list[dict] = field(default_factory=list)  # split panels: crop_path + rectangle in the output
    shots: list[dict] = field(default_factory=list)  # {start_s, end_s, layout} per shot, clip time
    caption_boxes: list[dict] = field(default_factory=list)  # where burned-in captions sit, output pixels
    loudness: dict | None = None  # the sound's measurement before and after mastering


def _even(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


def _aspect(aspect: str) -> tuple[int, int]:
    try:
        return ASPECTS[aspect]
    except KeyError:
        known = ", ".join(ASPECTS)
        raise InputError(f"unknown aspect {aspect!r}; use one of {known}", code="aspect_invalid") from None


def output_size(aspect: str, long_side: int = 1920) -> tuple[int, int]:
    """Output (width, height), both even: the larger dimension is ``long_side``.

    Square is the exception: it uses the short side of 16:9 (1080 for 1920), as social platforms
    do, rather than a 1920x1920 frame with 3.5 times the pixels of the others.
    """
    aw, ah = _aspect(aspect)
    if aw == ah:
        side = _even(long_side * 9 / 16)
        return side, side
    if aw > ah:
        return _even(long_side), _even(long_side * ah / aw)
    return _even(long_side * aw / ah), _even(long_side)


def center_crop_box(src_w: int, src_h: int, aspect: str, sar: float = 1.0) -> tuple[int, int, int, int]:
    """Largest centred ``(x, y, w, h)`` crop (pixels, even) whose *display* shape is ``aspect``.

    ``sar`` is the source's pixel aspect ratio, so anamorphic video is cropped as it is shown.
    """
    aw, ah = _aspect(aspect)
    sar = sar if sar > 0 else 1.0
    target = aw / ah
    display_w = src_w * sar
    if display_w / src_h > target:
        w, h = (src_h * target) / sar, float(src_h)
    else:
        w, h = float(src_w), display_w / target
    # Even sizes and offsets keep 4:2:0 chroma aligned; never exceed the source.
    w_i = min(src_w - src_w % 2, max(2, int(w) // 2 * 2))
    h_i = min(src_h - src_h % 2, max(2, int(h) // 2 * 2))
    x = (src_w - w_i) // 2 // 2 * 2
    y = (src_h - h_i) // 2 // 2 * 2
    return x, y, w_i, h_i


def _atomic_imwrite(path: str, rgb: np.ndarray) -> None:
    root, ext = os.path.splitext(path)
    tmp = f"{root}.part{ext or '.jpg'}"  # keep the extension: cv2 picks the format from it
    if not cv2.imwrite(tmp, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise MediaError(f"could not write thumbnail {os.path.basename(path)}", code="media_failed")
    os.replace(tmp, path)


class _AudioTrack:
    """Encodes a clip's finished (mastered) audio in step with the video, so the two stay interleaved.

    The samples are ready before the first frame is decoded; the track only has to start them at the first
    video frame, fade the edges and end exactly where the video ends. The last ``_HOLD_S`` are held back
    until the video's end is known, so the fade-out lands on the true last sample.
    """

    _HOLD_S = 0.1

    def __init__(self, out: av.container.OutputContainer, bitrate: int, t0: float, samples: np.ndarray,
                 fade_s: float) -> None:
        self.stream = out.add_stream("aac", rate=AUDIO_RATE)
        self.stream.layout = "stereo"
        self.stream.bit_rate = bitrate
        self.time_base = Fraction(1, AUDIO_RATE)
        self.stream.time_base = self.time_base
        self.out = out
        self.t0 = t0  # media time of samples[:, 0]
        self.samples = samples
        self.fade = int(round(max(0.0, fade_s) * AUDIO_RATE))
        self.offset = 0  # index in samples of the clip's first sample (may be negative: silence first)
        self.encoded = 0

    def start(self, first_t: float) -> None:
        """The first video frame is at media time ``first_t``: the clip's audio starts there, faded in."""
        self.offset = int(round((first_t - self.t0) * AUDIO_RATE))
        head = self._take(0, self.fade)
        head *= _fade_curve(head.shape[1])
        self._put(0, head)

    def flush_until(self, t_clip: float) -> None:
        """Encode whole AAC frames that end before clip time ``t_clip`` less the held-back tail."""
        limit = int((t_clip - self._HOLD_S) * AUDIO_RATE)
        while self.encoded + _AAC_FRAME <= limit:
            self._encode(self._take(self.encoded, _AAC_FRAME))

    def finish(self, duration_s: float) -> None:
        """Encode the rest, cut or padded with silence to exactly ``duration_s``, faded out."""
        total = int(round(duration_s * AUDIO_RATE))
        rest = self._take(self.encoded, max(0, total - self.encoded))
        n = min(self.fade, rest.shape[1])
        if n:
            rest[:, rest.shape[1] - n:] *= _fade_curve(n)[::-1]
        for i in range(0, rest.shape[1], _AAC_FRAME):
            self._encode(rest[:, i : i + _AAC_FRAME])
        self.out.mux(self.stream.encode(None))

    def _take(self, first: int, count: int) -> np.ndarray:
        """Clip samples [first, first + count) as a new array; silence where the source has none."""
        out = np.zeros((2, count), dtype=np.float32)
        a, b = self.offset + first, self.offset + first + count
        lo, hi = max(a, 0), min(b, self.samples.shape[1])
        if hi > lo:
            out[:, lo - a : hi - a] = self.samples[:, lo:hi]
        return out

    def _put(self, first: int, data: np.ndarray) -> None:
        a = self.offset + first
        lo, hi = max(a, 0), min(a + data.shape[1], self.samples.shape[1])
        if hi > lo:
            self.samples[:, lo:hi] = data[:, lo - a : hi - a]

    def _encode(self, data: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self.encoded
        frame.time_base = self.time_base
        self.encoded += data.shape[1]
        self.out.mux(self.stream.encode(frame))


def _fade_curve(n: int) -> np.ndarray:
    """A raised-cosine ramp 0 -> 1 over n samples: no click, no audible dip."""
    if n <= 0:
        return np.ones(0, dtype=np.float32)
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


def caption_paths(out_path: str) -> tuple[str, str]:
    """Where a clip's SRT and WebVTT files go: beside it, same stem."""
    p = Path(out_path)
    return str(p.with_suffix(".srt")), str(p.with_suffix(".vtt"))


def render_clip(
    source: str,
    start_s: float,
    end_s: float,
    aspect: str,
    out_path: str,
    params: RenderParams,
    thumbnail_path: str | None = None,
    words: Sequence[Mapping[str, object]] | None = None,
    caption_style: CaptionStyle | str | None = None,
    cuts_s: Sequence[float] | None = None,
    keywords: Iterable[str] = (),
    *,
    burn_captions: bool = True,
    speech_db: Sequence[float] | np.ndarray | None = None,
    hop_s: float = 0.05,
) -> RenderedClip:
    """Render [start_s, end_s) of ``source`` (media time, as in Signals) as an MP4 at ``out_path``.

    The frame range is exact by PTS: the first frame is the first one at or after ``start_s`` and
    the last the last one before ``end_s``. The camera follows faces (``params.reframe``) and, with
    ``speech_db`` (loudness per ``hop_s`` from the clip start), whoever speaks; ``cuts_s`` (media time)
    are the shot cuts where it may jump, detected in the clip when None. ``words``
    ``[{start_s, end_s, text}]`` (media time) are burned in with ``caption_style`` (a preset name or a
    CaptionStyle; ``keywords`` get the emphasis colour), placed clear of faces, unless ``burn_captions``
    is False; they are always written as SRT/VTT subtitles beside the clip. The sound is mastered to
    ``params.loudness_lufs`` with a true-peak ceiling and faded at both edges.
    Every file appears under its name only when complete; a re-run replaces them.
    Raises InputError(clip_invalid / aspect_invalid / caption_style_invalid) and MediaError(clip_empty / media_failed).
    """
    if not end_s > start_s >= 0:
        raise InputError(f"bad clip range {start_s:.3f}-{end_s:.3f} s", code="clip_invalid")
    _aspect(aspect)
    job = _ClipJob(source, start_s, end_s, aspect, out_path, params, thumbnail_path, words,
                   resolve_style(caption_style), cuts_s, tuple(keywords), burn_captions,
                   None if speech_db is None else np.asarray(speech_db, dtype=np.float64), hop_s)
    tmp_path = temp_path_for(out_path)
    try:
        result = _ClipRenderer(job).render(tmp_path)
        os.replace(tmp_path, out_path)
        return result
    except av.error.FFmpegError as exc:
        raise MediaError(f"render failed: {exc}", code="media_failed") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)


@dataclass(frozen=True)
class _ClipJob:
    """Everything render_clip was asked for, checked."""

    source: str
    start_s: float
    end_s: float
    aspect: str
    out_path: str
    params: RenderParams
    thumbnail_path: str | None
    words: Sequence[Mapping[str, object]] | None
    style: CaptionStyle
    cuts_s: Sequence[float] | None
    keywords: tuple[str, ...]
    burn_captions: bool
    speech_db: np.ndarray | None
    hop_s: float


def _plan(job: _ClipJob, src_w: int, src_h: int, sar: float) -> tuple[CameraPlan, float, Area]:
    """The camera plan, the clip time of the best thumbnail frame, and the picture the plan frames: the area
    inside black borders where the clip's analysis found them (a letterboxed film), else the whole frame."""
    duration = job.end_s - job.start_s
    p = job.params
    whole = Area.whole(src_w, src_h)
    box = center_crop_box(src_w, src_h, job.aspect, sar)
    if p.layout == "fit":  # the whole frame: nothing to follow, no analysis needed
        return fit_plan(duration, src_w, src_h, box[2], box[3], out_w=p.width, out_h=p.height), duration / 2, whole
    if not p.reframe or (box[2] >= src_w - 1 and box[3] >= src_h - 1):
        return centered_plan(duration, src_w, src_h, box, out_w=p.width, out_h=p.height), duration / 2, whole
    analysis = analyze_clip(job.source, job.start_s, job.end_s, sample_fps=p.sample_fps, cuts=job.cuts_s is None)
    if not analysis.samples:
        return centered_plan(duration, src_w, src_h, box, out_w=p.width, out_h=p.height), duration / 2, whole
    area = analysis.picture()
    box = center_crop_box(area.w, area.h, job.aspect, sar)
    cuts = analysis.cuts_s if job.cuts_s is None else [c - job.start_s for c in job.cuts_s
                                                          if job.start_s < c < job.end_s]
    plan = plan_camera(analysis.samples, duration, area.w, area.h, box[2], box[3], cuts, out_w=p.width,
                       out_h=p.height, speech_db=job.speech_db, hop_s=job.hop_s, layout=p.layout)
    return plan, analysis.best_thumbnail_t(duration, cuts), area


def _planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """Writable numpy views of a yuv420p frame's Y, U and V planes (no copy; strides kept)."""
    return [
        np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in frame.planes
    ]


def _scale(src: np.ndarray, dst: np.ndarray) -> None:
    h, w = dst.shape
    interp = cv2.INTER_AREA if src.shape[1] >= w else cv2.INTER_CUBIC
    cv2.resize(src, (w, h), dst=dst, interpolation=interp)


class _CropScaler:
    """Crop box of a yuv420p frame -> a new W x H yuv420p frame, scaled by libswscale (bicubic, as ffmpeg's
    ``crop,scale`` filters do). The box is copied into a reused sub-frame (a few hundred KB); swscale then
    writes the encoder's frame directly, in one pass, with the GIL released."""

    def __init__(self, width: int, height: int) -> None:
        self.size = (width, height)
        self.reformatter = VideoReformatter()
        self.sub: av.VideoFrame | None = None
        self.sub_planes: list[np.ndarray] = []

    def crop_scale(self, planes: Sequence[np.ndarray], box: tuple[int, int, int, int]) -> av.VideoFrame:
        x, y, w, h = box
        if self.sub is None or (self.sub.width, self.sub.height) != (w, h):
            self.sub = av.VideoFrame(w, h, "yuv420p")
            self.sub_planes = _planes(self.sub)
        sy, su, sv = planes
        dy, du, dv = self.sub_planes
        dy[...] = sy[y : y + h, x : x + w]
        hx, hy, hw, hh = x // 2, y // 2, w // 2, h // 2
        du[...] = su[hy : hy + hh, hx : hx + hw]
        dv[...] = sv[hy : hy + hh, hx : hx + hw]
        if (w, h) == self.size:
            out = av.VideoFrame(w, h, "yuv420p")
            for d, s in zip(_planes(out), self.sub_planes, strict=True):
                d[...] = s
            return out
        return self.reformatter.reformat(self.sub, *self.size, format="yuv420p", interpolation="BICUBIC")


def _fit(src: np.ndarray, dst: np.ndarray, chroma: bool) -> None:
    """The whole source fitted into ``dst`` over a blurred, dimmed, cover-scaled copy of itself."""
    sh, sw = src.shape
    dh, dw = dst.shape
    cover = max(dw / sw, dh / sh)
    cw, ch = min(sw, int(dw / cover)), min(sh, int(dh / cover))
    cx, cy = (sw - cw) // 2, (sh - ch) // 2
    small = cv2.resize(src[cy : cy + ch, cx : cx + cw], (max(2, dw // 16), max(2, dh // 16)),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.5)
    # Dim the backdrop so the real picture stands out: luma toward black, chroma toward grey.
    base = 128.0 if chroma else 16.0
    small = cv2.addWeighted(small, 0.55 if not chroma else 0.8, np.full_like(small, int(base)), 0.45 if not chroma
                            else 0.2, 0)
    cv2.resize(small, (dw, dh), dst=dst, interpolation=cv2.INTER_LINEAR)
    fit = min(dw / sw, dh / sh)
    # Even sizes and offsets on luma keep the chroma planes (half size) aligned with it.
    step = 1 if chroma else 2
    fw, fh = max(step, int(sw * fit) // step * step), max(step, int(sh * fit) // step * step)
    fx, fy = (dw - fw) // 2 // step * step, (dh - fh) // 2 // step * step
    _scale(src, dst[fy : fy + fh, fx : fx + fw])


class _Compositor:
    """Source frame (yuv420p planes) -> the output frame the plan asks for at a clip time.

    One full-frame crop goes straight through libswscale into the encoder's frame; split panels are
    scaled one by one into their rectangles; a "fit" shot is the whole picture over a blurred copy.
    """

    def __init__(self, plan: CameraPlan, width: int, height: int) -> None:
        self.plan = plan
        self.size = (width, height)
        self.scalers: dict[tuple[int, int], _CropScaler] = {}

    def _scaler(self, w: int, h: int) -> _CropScaler:
        if (w, h) not in self.scalers:
            self.scalers[(w, h)] = _CropScaler(w, h)
        return self.scalers[(w, h)]

    def compose(self, planes: Sequence[np.ndarray], tc: float) -> av.VideoFrame:
        W, H = self.size  # noqa: N806  (the output size reads best as W x H)
        if self.plan.shot_at(tc).layout == "fit":
            yuv = av.VideoFrame(W, H, "yuv420p")
            for src, dst, chroma in zip(planes, _planes(yuv), (False, True, True), strict=True):
                _fit(src, dst, chroma)
            return yuv
        placements = self.plan.placements_at(tc)
        if len(placements) == 1 and placements[0].dst == (0, 0, W, H):
            return self._scaler(W, H).crop_scale(planes, placements[0].src)
        yuv = av.VideoFrame(W, H, "yuv420p")
        oy, ou, ov = _planes(yuv)
        oy[...] = 16  # black where no panel lands
        ou[...] = 128
        ov[...] = 128
        for placement in placements:
            x, y, w, h = placement.dst
            panel = _planes(self._scaler(w, h).crop_scale(planes, placement.src))
            oy[y : y + h, x : x + w] = panel[0]
            ou[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = panel[1]
            ov[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = panel[2]
        return yuv


class _ClipRenderer:
    """One clip: plan the camera, master the sound, then decode the range once and encode it."""

    def __init__(self, job: _ClipJob) -> None:
        self.job = job
        self.first_t: float | None = None  # media time of the clip's first frame
        self.last_t = -1.0
        self.last_pts = -1
        self.thumb: np.ndarray | None = None
        self.last_frame: av.VideoFrame | None = None
        self.video_done = False

    def render(self, tmp_path: str) -> RenderedClip:
        job, p = self.job, self.job.params
        in_clip = clip_words(job.words, job.start_s, job.end_s) if job.words else []
        with av.open(job.source) as src:
            vin = pick_video_stream(src)
            if vin is None:
                raise InputError(f"no video stream in {os.path.basename(job.source)}", code="no_video_stream")
            vin.thread_type = "AUTO"
            if p.threads:
                vin.thread_count = p.threads
            self.origin = stream_start_s(vin)
            rate = vin.average_rate or vin.guessed_rate or Fraction(round(stream_fps(vin) or 25))
            self.rate = Fraction(rate).limit_denominator(1001 * 1000)
            self.frame_dur = 1.0 / float(self.rate)
            self.src_size = (vin.codec_context.width, vin.codec_context.height)
            # The sound is read and mastered beside the camera's pre-pass: both finish before the first frame.
            with ThreadPoolExecutor(max_workers=1) as side:
                sound = side.submit(_clip_audio, job) if src.streams.audio else None
                self.plan, self.thumb_t, self.area = _plan(job, *self.src_size, stream_sar(vin))
                audio = sound.result() if sound is not None else None
            self.compositor = _Compositor(self.plan, p.width, p.height)
            self.burner = self._burner(in_clip) if in_clip and job.burn_captions else None
            # Seek to the keyframe at or before the start; frames before start_s are decoded and dropped.
            with contextlib.suppress(*_DAMAGED):
                seek_before(src, vin, job.start_s)
            with av.open(tmp_path, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
                self.out = out
                self.vout = self._video_stream(out)
                self.aout = None if audio is None else _AudioTrack(out, p.audio_bitrate, audio.t0, audio.samples,
                                                                   p.fade_s)
                self._encode_range(src, vin)
                if self.first_t is None:
                    raise MediaError(f"no video frames between {job.start_s:.3f} and {job.end_s:.3f} s in "
                                     f"{os.path.basename(job.source)}", code="clip_empty")
                out.mux(self.vout.encode(None))
                duration = (self.last_pts + 1) / float(self.rate)
                if self.aout is not None:
                    self.aout.finish(duration)
        return self._result(duration, in_clip, audio)

    def _burner(self, in_clip: list) -> CaptionBurner:
        job, W, H = self.job, self.job.params.width, self.job.params.height  # noqa: N806
        shots = [(s.start_s, s.end_s) for s in self.plan.shots]
        sizer = CaptionBurner([], job.style, W, H, job.keywords, faces_at=self.plan.output_faces_at, shots=shots)
        lines = group_lines(in_clip, job.style.max_words, sizer.measure, sizer.max_line_width,
                            duration_s=job.end_s - job.start_s)
        return CaptionBurner(lines, job.style, W, H, job.keywords, faces_at=self.plan.output_faces_at, shots=shots)

    def _video_stream(self, out: av.container.OutputContainer) -> av.video.stream.VideoStream:
        p = self.job.params
        vout = out.add_stream("libx264", rate=self.rate)
        vout.width, vout.height = p.width, p.height
        vout.pix_fmt = "yuv420p"
        vout.time_base = 1 / self.rate  # our frame PTS unit; the muxer may pick a finer stream time base
        vout.options = {"crf": str(p.crf), "preset": p.preset}
        # Tagged BT.709, limited range: what players and platforms assume for HD; frames are converted to it.
        cc = vout.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
        # As the ffmpeg CLI does (threads=auto): x264 frame threads, not PyAV's default slice threads.
        # Frame threads pipeline whole frames, so encode() returns while x264 works beside us.
        vout.thread_type = "FRAME"
        vout.thread_count = p.threads or 0
        return vout

    def _encode_range(self, src: av.container.InputContainer, vin: av.video.stream.VideoStream) -> None:
        """Decode the video from the seek point to the clip's end (the audio is already mastered).

        A thread of its own demuxes and decodes (PyAV releases the GIL) while this one composes and
        encodes, as ffmpeg's own threads would; a small queue bounds the frames held between them.
        """
        self.to_709 = _Bt709()
        frames: queue.Queue = queue.Queue(maxsize=8)
        stop = threading.Event()
        reader = threading.Thread(target=_decode_into, args=(src, vin, frames, stop), name="render-decode",
                                  daemon=True)
        reader.start()
        try:
            while True:
                item = frames.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                self._take(item)
                if self.video_done:
                    break
        finally:
            stop.set()
            while reader.is_alive():  # unblock a reader waiting on a full queue, then let it end
                with contextlib.suppress(queue.Empty):
                    frames.get_nowait()
                reader.join(timeout=0.05)

    def _take(self, frame: av.VideoFrame) -> None:
        job = self.job
        t = float(frame.pts * frame.time_base) - self.origin
        if self.video_done or t < job.start_s - _EPS:
            return
        if t >= job.end_s - _EPS:
            self.video_done = True
            return
        if self.first_t is None:
            self.first_t = t
            if self.aout is not None:
                self.aout.start(t)
        frame = self.to_709.convert(frame, *self.src_size)
        tc = t - job.start_s
        yuv = self.compositor.compose(self.area.planes(_planes(frame)), tc)
        if job.thumbnail_path and self.thumb is None and tc >= self.thumb_t - self.frame_dur / 2:
            self.thumb = yuv.to_ndarray(format="rgb24")  # before captions: a clean picture
        if self.burner is not None:
            self.burner.draw(tc, *_planes(yuv))
        # Rebase to 0 on the output frame grid; strictly increasing even for VFR input.
        pts = max(self.last_pts + 1, int(round((t - self.first_t) * float(self.rate))))
        yuv.pts, yuv.time_base = pts, 1 / self.rate
        yuv.color_range = 1
        self.last_pts, self.last_t = pts, t
        self.last_frame = yuv
        self.out.mux(self.vout.encode(yuv))
        if self.aout is not None:
            self.aout.flush_until(t - self.first_t)

    def _result(self, duration: float, in_clip: list, audio: _MasteredClipAudio | None) -> RenderedClip:
        job = self.job
        thumb_out = None
        if job.thumbnail_path:
            if self.thumb is None and self.last_frame is not None:
                self.thumb = self.last_frame.to_ndarray(format="rgb24")
            if self.thumb is not None:
                _atomic_imwrite(job.thumbnail_path, self.thumb)
                thumb_out = job.thumbnail_path
        srt_path, vtt_path = caption_paths(job.out_path)
        srt_out = vtt_out = None
        if in_clip:
            srt_out, vtt_out = write_caption_files(subtitle_cues(in_clip, duration), srt_path, vtt_path)
        else:
            remove_caption_files(srt_path, vtt_path)
        reason = None
        if not job.words:
            reason = "no transcript"
        elif not in_clip:
            reason = "no speech in the clip"
        assert self.first_t is not None
        return RenderedClip(
            path=job.out_path,
            width=job.params.width,
            height=job.params.height,
            duration_s=duration,
            has_audio=self.aout is not None,
            thumbnail=thumb_out,
            crop_path=self.area.in_source(self.plan.keyframes(self.frame_dur)),
            captions_srt=srt_out,
            captions_vtt=vtt_out,
            captions_reason=reason,
            layout=self.plan.layout,
            start_s=round(self.first_t, 3),
            end_s=round(self.first_t + duration, 3),
            panels=[{**panel, "crop_path": self.area.in_source(panel["crop_path"])}
                    for panel in self.plan.panels(self.frame_dur)],
            shots=[{"start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3), "layout": s.layout}
                   for s in self.plan.shots],
            caption_boxes=_caption_boxes(self.burner),
            loudness=None if audio is None else audio.report,
        )



def _decode_into(src: av.container.InputContainer, vin: av.video.stream.VideoStream, out: queue.Queue,
                 stop: threading.Event) -> None:
    """Decoded (and, where coded as fields, deinterlaced) frames into ``out``; then None, or the error."""
    deinterlacer = Deinterlacer()

    def put(item: object) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                out.put(item, timeout=0.1)
                return True
        return False

    try:
        for packet in src.demux(vin):
            if stop.is_set():
                return
            try:
                frames = packet.decode()
            except _DAMAGED:
                continue  # a corrupt packet: skip it and keep going
            for frame in frames:
                if frame.pts is not None:
                    # Frames coded as fields are deinterlaced (bwdif); they come out one frame later.
                    for ready in deinterlacer.push(frame):
                        if not put(ready):
                            return
        for ready in deinterlacer.flush():
            if not put(ready):
                return
        put(None)
    except BaseException as exc:  # handed to the encoding thread
        put(exc)


def _caption_boxes(burner: CaptionBurner | None) -> list[dict[str, float]]:
    """Where burned-in captions sit (output pixels), one entry per run of lines in the same band."""
    out: list[dict[str, float]] = []
    for start, end, (x, y, w, h) in (burner.line_boxes() if burner is not None else []):
        if out and out[-1]["y"] == y and out[-1]["h"] == h and start - out[-1]["end_s"] < 1.0:
            last = out[-1]
            right = max(last["x"] + last["w"], x + w)
            last["x"] = min(last["x"], x)
            last["w"] = right - last["x"]
            last["end_s"] = round(end, 3)
        else:
            out.append({"start_s": round(start, 3), "end_s": round(end, 3), "x": x, "y": y, "w": w, "h": h})
    return out


class _Bt709:
    """Frames to 8-bit yuv420p, limited range, BT.709 matrix: what the output is tagged as.

    Most HD sources already are, and pass through untouched; full-range (yuvj) and SD (BT.601) sources
    are converted, so the tags tell the truth.
    """

    _SD_SPACES = {5, 6}  # BT.470BG, SMPTE 170M

    def __init__(self) -> None:
        self.reformatter = VideoReformatter()

    def convert(self, frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
        full = frame.format.name.startswith("yuvj") or frame.color_range == 2
        sd = frame.colorspace in self._SD_SPACES
        if frame.format.name == "yuv420p" and frame.width == width and not full and not sd:
            return frame
        return self.reformatter.reformat(
            frame, width, height, format="yuv420p", src_colorspace="ITU601" if sd else None,
            dst_colorspace="ITU709" if sd else None, src_color_range="JPEG" if full else None,
            dst_color_range="MPEG", interpolation="BICUBIC",
        )


@dataclass(frozen=True)
class _MasteredClipAudio:
    t0: float  # media time of samples[:, 0]
    samples: np.ndarray  # (2, n) float32 at AUDIO_RATE
    report: dict[str, float]


def _clip_audio(job: _ClipJob) -> _MasteredClipAudio | None:
    """The clip's sound, read once and mastered (loudness, true-peak ceiling) before any frame is encoded."""
    p = job.params
    got = read_clip_audio(job.source, job.start_s, job.end_s, AUDIO_RATE)
    if got is None:
        return None
    t0, samples = got
    mastered = master_audio(samples, AUDIO_RATE, target_lufs=p.loudness_lufs, max_true_peak_db=p.true_peak_db,
                            fade_s=0.0)
    return _MasteredClipAudio(t0, np.ascontiguousarray(mastered.samples, dtype=np.float32),
                              mastered.report_dict())
