"""Live input: an HLS media playlist that grows while a stream plays (as ffmpeg's and OBS's HLS outputs write it).

``parse_playlist`` reads one playlist text into a ``MediaPlaylist`` (a master playlist names its variants
instead); ``PlaylistFollower`` reads the playlist again and again and hands out each new segment once, in
order, until the playlist ends (#EXT-X-ENDLIST), and raises when the source stops growing for longer than its
idle timeout. Sources are local paths or, where the caller allows URLs, http(s) addresses fetched with
media/fetch.py's guards. Nothing here decodes: segments are bytes, joined by the caller.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from streamapp.errors import InputError, StreamappError
from streamapp.media.fetch import is_url, read_url

log = logging.getLogger("streamapp.hls")

# A playlist is text of a few kilobytes; a segment a few seconds of video. Anything larger is not a live stream.
MAX_PLAYLIST_BYTES = 4 << 20
MAX_SEGMENT_BYTES = 512 << 20


@dataclass(frozen=True)
class Segment:
    sequence: int  # the media sequence number: a segment's identity across reloads of the playlist
    uri: str  # absolute: a local path or a URL
    duration_s: float  # as #EXTINF says
    discontinuity: bool = False  # #EXT-X-DISCONTINUITY before it: timestamps may jump here


@dataclass(frozen=True)
class MediaPlaylist:
    target_duration_s: float
    segments: tuple[Segment, ...]
    ended: bool  # #EXT-X-ENDLIST: no segment will be added
    kind: str = ""  # #EXT-X-PLAYLIST-TYPE: "EVENT", "VOD" or "" (a sliding live window)
    init_uri: str | None = None  # #EXT-X-MAP: the initialisation section of fragmented-MP4 segments
    variants: tuple[str, ...] = field(default=())  # a master playlist's media playlists, best first


def resolve(base: str, uri: str) -> str:
    """``uri`` as written in the playlist at ``base``, made absolute (a path next to it, or a URL)."""
    if is_url(uri) or Path(uri).is_absolute():
        return uri
    if is_url(base):
        return urllib.parse.urljoin(base, uri)
    return str(Path(base).parent / urllib.parse.unquote(uri))


def _attributes(text: str) -> dict[str, str]:
    """KEY=VALUE,KEY="quoted, value" pairs of a tag."""
    out: dict[str, str] = {}
    rest = text
    while rest:
        key, _, rest = rest.partition("=")
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
            rest = rest.partition(",")[2]
        else:
            value, _, rest = rest.partition(",")
        out[key.strip().upper()] = value.strip()
    return out


def parse_playlist(text: str, base: str) -> MediaPlaylist:
    """One playlist text read from ``base`` (its path or URL). Raises InputError(live_playlist_invalid)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#EXTM3U"):
        raise InputError(f"{base} is not an HLS playlist (no #EXTM3U)", code="live_playlist_invalid")
    target = 0.0
    sequence = 0
    ended = False
    kind = ""
    init_uri: str | None = None
    segments: list[Segment] = []
    variants: list[tuple[int, str]] = []
    duration: float | None = None
    discontinuity = False
    bandwidth: int | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = _number(line, base)
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(_number(line, base))
        elif line.startswith("#EXT-X-PLAYLIST-TYPE:"):
            kind = line.partition(":")[2].strip().upper()
        elif line.startswith("#EXT-X-ENDLIST"):
            ended = True
        elif line.startswith("#EXT-X-MAP:"):
            init_uri = resolve(base, _attributes(line.partition(":")[2]).get("URI", ""))
        elif line.startswith("#EXT-X-DISCONTINUITY") and not line.startswith("#EXT-X-DISCONTINUITY-"):
            discontinuity = True
        elif line.startswith("#EXTINF:"):
            duration = _number(line.partition(",")[0], base)
        elif line.startswith("#EXT-X-STREAM-INF:"):
            bandwidth = int(_attributes(line.partition(":")[2]).get("BANDWIDTH", "0") or 0)
        elif line.startswith("#EXT-X-KEY:") and "METHOD=NONE" not in line.upper():
            raise InputError(f"{base}: encrypted HLS segments are not supported", code="live_playlist_invalid")
        elif not line.startswith("#"):
            if bandwidth is not None:
                variants.append((bandwidth, resolve(base, line)))
                bandwidth = None
            elif duration is not None:
                segments.append(Segment(sequence + len(segments), resolve(base, line), duration, discontinuity))
                duration, discontinuity = None, False
    if variants:
        best_first = tuple(uri for _, uri in sorted(variants, key=lambda v: -v[0]))
        return MediaPlaylist(0.0, (), False, variants=best_first)
    return MediaPlaylist(target, tuple(segments), ended, kind, init_uri)


def _number(line: str, base: str) -> float:
    try:
        return float(line.partition(":")[2].strip())
    except ValueError:
        raise InputError(f"{base}: bad number in {line[:60]}", code="live_playlist_invalid") from None


class SourceReader:
    """Reads a playlist or a segment: a local file, or a URL where the settings allow URLs."""

    def __init__(self, allow_urls: bool = False, trusted_hosts: Collection[str] = ()) -> None:
        self.allow_urls = allow_urls
        self.trusted_hosts = tuple(trusted_hosts)

    def read(self, uri: str, max_bytes: int) -> bytes:
        if is_url(uri):
            if not self.allow_urls:
                raise InputError("URL inputs are turned off (STREAMAPP_ALLOW_URLS)", code="input_url_refused")
            return read_url(uri, max_bytes, self.trusted_hosts)
        try:
            with open(uri, "rb") as f:
                body = f.read(max_bytes + 1)
        except FileNotFoundError:
            raise InputError(f"{uri} does not exist", code="input_not_found") from None
        except OSError as exc:
            raise InputError(f"{uri} cannot be read: {exc.strerror or exc}", code="input_unreadable") from None
        if len(body) > max_bytes:
            raise InputError(f"{uri} exceeds {max_bytes} bytes", code="input_too_large")
        return body


class PlaylistFollower:
    """The new segments of a live playlist, each once and in order, read whenever ``poll`` is called.

    ``after``: the sequence number of the last segment already taken (a resumed job starts after it).
    A master playlist is followed through its best variant. A sliding playlist that dropped segments before
    they were read is logged (they are lost to this job); a stream that shows no new segment for
    ``idle_timeout_s`` raises InputError(live_source_stalled).
    """

    def __init__(self, source: str, reader: SourceReader, idle_timeout_s: float, after: int = -1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.reader = reader
        self.idle_timeout_s = idle_timeout_s
        self.last_sequence = after
        self.clock = clock
        self.last_growth = clock()
        self.ended = False
        self.target_duration_s = 0.0
        self.init_uri: str | None = None
        self.missed = 0  # segments the playlist dropped before this follower read them

    def read_playlist(self) -> MediaPlaylist:
        uri = self.source
        for _ in range(3):  # a master playlist names media playlists; it never names itself
            playlist = parse_playlist(self.reader.read(uri, MAX_PLAYLIST_BYTES).decode("utf-8", "replace"), uri)
            if not playlist.variants:
                self.source = uri  # follow the chosen variant from now on
                return playlist
            uri = playlist.variants[0]
        raise InputError(f"{self.source}: master playlists nest too deep", code="live_playlist_invalid")

    def poll(self) -> list[Segment]:
        """Segments added since the last call (none once the playlist has ended)."""
        if self.ended:
            return []
        try:
            playlist = self.read_playlist()
        except StreamappError as exc:
            # A playlist caught mid-rewrite, or a fetch that failed once: a stall only if it lasts.
            if exc.code not in ("live_playlist_invalid", "download_failed", "input_not_found"):
                raise
            log.debug("live playlist unreadable for now: %s", exc)
            self._check_idle()
            return []
        self.target_duration_s = playlist.target_duration_s or self.target_duration_s
        self.init_uri = playlist.init_uri
        new = [s for s in playlist.segments if s.sequence > self.last_sequence]
        if new and self.last_sequence >= 0 and new[0].sequence > self.last_sequence + 1:
            lost = new[0].sequence - self.last_sequence - 1
            self.missed += lost
            log.warning("the live playlist dropped %d segment(s) before they were read", lost)
        if new:
            self.last_sequence = new[-1].sequence
            self.last_growth = self.clock()
        self.ended = playlist.ended
        if not new and not self.ended:
            self._check_idle()
        return new

    def _check_idle(self) -> None:
        idle = self.clock() - self.last_growth
        if idle > self.idle_timeout_s:
            raise InputError(f"the live source stalled: no new segment for {idle:.0f} s", code="live_source_stalled")

    def poll_interval_s(self) -> float:
        """How long to wait before reading the playlist again: half a target duration, as players do."""
        return min(max(self.target_duration_s / 2.0, 0.25), 5.0) if self.target_duration_s else 1.0

    def read_segment(self, segment: Segment) -> bytes:
        return self.reader.read(segment.uri, MAX_SEGMENT_BYTES)


def segment_problem(path: str) -> str | None:
    """Why a segment file cannot be used (no picture decodes from it), or None. Decodes its first picture only."""
    import av  # here, not at the top: reading playlists needs no decoder

    try:
        with av.open(path) as container:
            if not container.streams.video:
                return "no video stream"
            for _ in container.decode(video=0):
                return None
    except (av.FFmpegError, OSError, ValueError) as exc:
        return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return "no picture decodes"
