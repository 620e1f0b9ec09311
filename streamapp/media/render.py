"""Export core: cut one clip out of a source, reframe it to an aspect, burn captions, encode H.264/AAC MP4.

One decode pass renders a clip (after a cheap luma-only pre-pass that plans the camera). Frames
stay in YUV 4:2:0: each plane is cropped as a numpy view and scaled with OpenCV straight into the
encoder's frame, so there is no RGB round trip and no intermediate file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping, Sequence
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
from streamapp.captions.timing import clip_words, group_lines
from streamapp.errors import InputError, MediaError
from streamapp.fileio import temp_path_for
from streamapp.media.deinterlace import Deinterlacer
from streamapp.media.probe import pick_video_stream, stream_fps, stream_sar, stream_start_s
from streamapp.reframe.analysis import analyze_clip
from streamapp.reframe.path import CameraPlan, centered_plan, plan_camera

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
    layout: str = "center"  # "still" | "tracking" | "fit" | "center": the one covering most of the clip


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


class _AudioOut:
    """Rebases, trims/pads and encodes audio so it ends exactly where the video ends."""

    def __init__(self, out: av.container.OutputContainer, bitrate: int) -> None:
        self.stream = out.add_stream("aac", rate=AUDIO_RATE)
        self.stream.layout = "stereo"
        self.stream.bit_rate = bitrate
        self.time_base = Fraction(1, AUDIO_RATE)
        self.stream.time_base = self.time_base
        self.out = out
        self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        self.clock: float | None = None  # media time of the next resampled sample
        self.pending: list[tuple[float, np.ndarray]] = []  # before the first video frame is known
        self.buffer = np.zeros((2, 0), dtype=np.float32)  # placed but not yet encoded
        self.placed = 0  # samples placed on the clip timeline (sample 0 = first video frame)
        self.encoded = 0
        self.origin: float | None = None

    def add(self, frame: av.AudioFrame, t_frame: float | None) -> None:
        for out in self.resampler.resample(frame):
            self._add_resampled(out, t_frame)

    def _add_resampled(self, out: av.AudioFrame, t_frame: float | None) -> None:
        data = out.to_ndarray().astype(np.float32, copy=True).reshape(2, -1)
        if self.clock is None:
            self.clock = t_frame if t_frame is not None else 0.0
        elif t_frame is not None and t_frame > self.clock + 0.1:
            self.clock = t_frame  # a real gap in the source; it becomes silence when placed
        t = self.clock
        self.clock += data.shape[1] / AUDIO_RATE
        if self.origin is None:
            self.pending.append((t, data))
        else:
            self._place(t, data)

    def start(self, origin: float) -> None:
        self.origin = origin
        for t, data in self.pending:
            self._place(t, data)
        self.pending = []

    def _place(self, t: float, data: np.ndarray) -> None:
        first = int(round((t - self.origin) * AUDIO_RATE))
        if first + data.shape[1] <= self.placed:
            return
        if first < self.placed:
            data = data[:, self.placed - first :]
        elif first > self.placed:
            gap = np.zeros((2, first - self.placed), dtype=np.float32)
            data = np.concatenate([gap, data], axis=1)
        self.buffer = np.concatenate([self.buffer, data], axis=1)
        self.placed += data.shape[1]

    def ahead_of(self, t_media: float) -> bool:
        """Whether audio already covers media time ``t_media``."""
        return self.origin is not None and self.origin + self.placed / AUDIO_RATE >= t_media

    def flush_until(self, t_clip: float) -> None:
        """Encode whole AAC frames that end before clip time ``t_clip`` (safe: the video goes past it)."""
        limit = int(t_clip * AUDIO_RATE)
        while self.buffer.shape[1] >= _AAC_FRAME and self.encoded + _AAC_FRAME <= limit:
            self._encode(self.buffer[:, :_AAC_FRAME])
            self.buffer = self.buffer[:, _AAC_FRAME:]

    def finish(self, duration_s: float) -> None:
        """Encode the rest, trimmed or padded with silence to exactly ``duration_s``."""
        total = int(round(duration_s * AUDIO_RATE))
        need = total - self.encoded
        if need > self.buffer.shape[1]:
            pad = np.zeros((2, need - self.buffer.shape[1]), dtype=np.float32)
            self.buffer = np.concatenate([self.buffer, pad], axis=1)
        rest = self.buffer[:, : max(0, need)]
        for i in range(0, rest.shape[1], _AAC_FRAME):
            self._encode(rest[:, i : i + _AAC_FRAME])
        self.buffer = np.zeros((2, 0), dtype=np.float32)
        self.out.mux(self.stream.encode(None))

    def _encode(self, data: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self.encoded
        frame.time_base = self.time_base
        self.encoded += data.shape[1]
        self.out.mux(self.stream.encode(frame))


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
) -> RenderedClip:
    """Render [start_s, end_s) of ``source`` (media time, as in Signals) as an MP4 at ``out_path``.

    The frame range is exact by PTS: the first frame is the first one at or after ``start_s`` and
    the last the last one before ``end_s``. The camera follows faces (``params.reframe``); ``cuts_s``
    (media time) are the shot cuts where it may jump, detected in the clip when None. ``words``
    ``[{start_s, end_s, text}]`` (media time) are burned in with ``caption_style`` (a preset name or a
    CaptionStyle; ``keywords`` get the emphasis colour) and written as SRT/VTT beside the clip.
    Every file appears under its name only when complete; a re-run replaces them.
    Raises InputError(clip_invalid / aspect_invalid / caption_style_invalid) and MediaError(clip_empty / media_failed).
    """
    if not end_s > start_s >= 0:
        raise InputError(f"bad clip range {start_s:.3f}-{end_s:.3f} s", code="clip_invalid")
    _aspect(aspect)
    style = resolve_style(caption_style)
    tmp_path = temp_path_for(out_path)
    try:
        result = _render(
            source, start_s, end_s, aspect, tmp_path, params, thumbnail_path, out_path, words, style, cuts_s,
            keywords,
        )
        os.replace(tmp_path, out_path)
        return result
    except av.error.FFmpegError as exc:
        raise MediaError(f"render failed: {exc}", code="media_failed") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)


def _plan(
    source: str, start_s: float, end_s: float, src_w: int, src_h: int, aspect: str, sar: float,
    params: RenderParams, cuts_s: Sequence[float] | None,
) -> tuple[CameraPlan, float]:
    """The camera plan and the clip time of the best thumbnail frame."""
    duration = end_s - start_s
    box = center_crop_box(src_w, src_h, aspect, sar)
    if not params.reframe or (box[2] >= src_w - 1 and box[3] >= src_h - 1):
        return centered_plan(duration, src_w, src_h, box), duration / 2
    analysis = analyze_clip(source, start_s, end_s, sample_fps=params.sample_fps, cuts=cuts_s is None)
    if not analysis.samples:
        return centered_plan(duration, src_w, src_h, box), duration / 2
    cuts = analysis.cuts_s if cuts_s is None else [c - start_s for c in cuts_s if start_s < c < end_s]
    plan = plan_camera(analysis.samples, duration, src_w, src_h, box[2], box[3], cuts)
    return plan, analysis.best_thumbnail_t(duration)


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


def _render(
    source: str,
    start_s: float,
    end_s: float,
    aspect: str,
    tmp_path: str,
    params: RenderParams,
    thumbnail_path: str | None,
    out_path: str,
    words: Sequence[Mapping[str, object]] | None,
    style: CaptionStyle,
    cuts_s: Sequence[float] | None,
    keywords: Iterable[str],
) -> RenderedClip:
    duration_s = end_s - start_s
    srt_path, vtt_path = caption_paths(out_path)
    W, H = params.width, params.height  # noqa: N806  (the output size reads best as W x H)
    burner: CaptionBurner | None = None
    captions_reason: str | None = None
    if words is None or len(words) == 0:
        captions_reason = "no transcript"
    else:
        in_clip = clip_words(words, start_s, end_s)
        if not in_clip:
            captions_reason = "no speech in the clip"
        else:
            burner = CaptionBurner([], style, W, H, keywords)
            lines = group_lines(in_clip, style.max_words, burner.measure, burner.max_line_width,
                                duration_s=duration_s)
            burner = CaptionBurner(lines, style, W, H, keywords)

    with av.open(source) as src:
        vin = pick_video_stream(src)
        if vin is None:
            raise InputError(f"no video stream in {os.path.basename(source)}", code="no_video_stream")
        ain = src.streams.audio[0] if src.streams.audio else None
        vin.thread_type = "AUTO"
        if params.threads:
            vin.thread_count = params.threads
        origin = stream_start_s(vin)
        rate = vin.average_rate or vin.guessed_rate or Fraction(round(stream_fps(vin) or 25))
        rate = Fraction(rate).limit_denominator(1001 * 1000)
        frame_dur = 1.0 / float(rate)
        sar = stream_sar(vin)
        src_w, src_h = vin.codec_context.width, vin.codec_context.height
        plan, thumb_t = _plan(source, start_s, end_s, src_w, src_h, aspect, sar, params, cuts_s)
        # Seek to the keyframe at or before the start; frames before start_s are decoded and dropped.
        with contextlib.suppress(*_DAMAGED):
            src.seek(int((start_s + origin) / vin.time_base), stream=vin, backward=True, any_frame=False)

        with av.open(tmp_path, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            vout = out.add_stream("libx264", rate=rate)
            vout.width, vout.height = W, H
            vout.pix_fmt = "yuv420p"
            frame_tb = 1 / rate  # our frame PTS unit; the muxer may pick a finer stream time base
            vout.time_base = frame_tb
            vout.options = {"crf": str(params.crf), "preset": params.preset}
            # As the ffmpeg CLI does (threads=auto): x264 frame threads, not PyAV's default slice threads.
            # Frame threads pipeline whole frames, so encode() returns while x264 works beside us.
            vout.thread_type = "FRAME"
            vout.thread_count = params.threads or 0
            aout = _AudioOut(out, params.audio_bitrate) if ain is not None else None

            to_420 = VideoReformatter()
            cropper = _CropScaler(W, H)
            deinterlacer = Deinterlacer()
            first_t: float | None = None
            last_t = -1.0
            last_pts = -1
            thumb: np.ndarray | None = None
            last_frame: av.VideoFrame | None = None
            video_done = False

            def take_video(frame: av.VideoFrame) -> None:
                nonlocal first_t, last_t, last_pts, thumb, last_frame, video_done
                t = float(frame.pts * frame.time_base) - origin
                if video_done or t < start_s - _EPS:
                    return
                if t >= end_s - _EPS:
                    video_done = True
                    return
                if first_t is None:
                    first_t = t
                    if aout is not None:
                        aout.start(first_t)
                if frame.format.name not in ("yuv420p", "yuvj420p") or frame.width != src_w:
                    frame = to_420.reformat(frame, src_w, src_h, format="yuv420p")
                tc = t - start_s
                sy, su, sv = _planes(frame)
                if plan.shot_at(tc).layout == "fit":
                    yuv = av.VideoFrame(W, H, "yuv420p")
                    oy, ou, ov = _planes(yuv)
                    _fit(sy, oy, False)
                    _fit(su, ou, True)
                    _fit(sv, ov, True)
                else:
                    yuv = cropper.crop_scale((sy, su, sv), plan.box_at(tc))
                if thumbnail_path and thumb is None and tc >= thumb_t - frame_dur / 2:
                    thumb = yuv.to_ndarray(format="rgb24")  # before captions: a clean picture
                if burner is not None:
                    burner.draw(tc, *_planes(yuv))
                # Rebase to 0 on the output frame grid; strictly increasing even for VFR input.
                pts = max(last_pts + 1, int(round((t - first_t) * float(rate))))
                yuv.pts, yuv.time_base = pts, frame_tb
                last_pts, last_t = pts, t
                last_frame = yuv
                out.mux(vout.encode(yuv))
                if aout is not None:
                    aout.flush_until(t - first_t)

            streams = [s for s in (vin, ain) if s is not None]
            for packet in src.demux(streams):
                if video_done and (aout is None or aout.ahead_of(last_t + frame_dur)):
                    break
                try:
                    frames = packet.decode()
                except _DAMAGED:
                    continue  # a corrupt packet: skip it and keep going
                for frame in frames:
                    if frame.pts is None:
                        continue
                    if packet.stream is ain:
                        t = float(frame.pts * frame.time_base) - origin
                        if aout is not None and t < end_s + frame_dur:
                            aout.add(frame, t)
                        continue
                    # Frames coded as fields are deinterlaced (bwdif); they come out one frame later.
                    for ready in deinterlacer.push(frame):
                        take_video(ready)
            for ready in deinterlacer.flush():
                take_video(ready)
            if first_t is None:
                raise MediaError(
                    f"no video frames between {start_s:.3f} and {end_s:.3f} s in {os.path.basename(source)}",
                    code="clip_empty",
                )
            out.mux(vout.encode(None))
            duration = (last_pts + 1) / float(rate)
            if aout is not None:
                aout.finish(duration)

    thumb_out = None
    if thumbnail_path:
        if thumb is None and last_frame is not None:
            thumb = last_frame.to_ndarray(format="rgb24")
        if thumb is not None:
            _atomic_imwrite(thumbnail_path, thumb)
            thumb_out = thumbnail_path
    srt_out = vtt_out = None
    if burner is not None:
        srt_out, vtt_out = write_caption_files(burner.lines, srt_path, vtt_path)
    else:
        remove_caption_files(srt_path, vtt_path)
    return RenderedClip(
        path=out_path,
        width=W,
        height=H,
        duration_s=duration,
        has_audio=aout is not None,
        thumbnail=thumb_out,
        crop_path=plan.keyframes(frame_dur),
        captions_srt=srt_out,
        captions_vtt=vtt_out,
        captions_reason=captions_reason,
        layout=plan.layout,
    )
