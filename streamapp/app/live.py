"""A live job's stream on disk: the segments taken from its playlist, the pieces they are analysed in, and the
record of what the job has done, saved after every step so a restarted worker goes on where it stopped.

``LiveStream`` is the bookkeeping (no Kafka, no pool): LiveStage (app/live_stage.py) calls it between its
pool tasks and its sends. Files, under the job's folder ``live/``:

- ``segments/<sequence>.ts``: the segments taken and not yet behind every clip that could still be made;
- ``stream.npz``: the stream's signals so far (stages/live.py's stitched Signals);
- ``state.json``: the segments' times, how far analysis has got, the selector's state and the clips made.

A piece owns the stream from the start of the segments not yet analysed to the start of its own last segment,
which it decodes only as a look past its end and leaves to the next piece. It is decoded from one segment before
what it owns (lead-in), so a cut or a word on either border of what it owns is seen with the frames around it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from streamapp.fileio import write_bytes_atomic
from streamapp.media.hls import PlaylistFollower, Segment, SourceReader, segment_problem

log = logging.getLogger("streamapp.live")

LIVE_DIR = "live"
# A piece holds at most this many times the piece length of new stream (and at least MIN_MAX_PIECE_S).
MAX_PIECE_FACTOR = 4
MIN_MAX_PIECE_S = 30.0


@dataclass
class TakenSegment:
    sequence: int
    start_s: float  # in stream time: the sum of the durations before it
    duration_s: float
    analysed: bool = False
    skipped: bool = False  # it did not decode (alone, or the piece it was in)
    taken_at: float = 0.0  # wall-clock time it was read from the playlist
    problem: str | None = None  # why it did not decode, when it did not

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def file(self) -> str:
        return f"{self.sequence:010d}.ts"


@dataclass
class Piece:
    """Segments to analyse together: ``segments[0]`` is lead-in unless the piece starts the stream."""

    segments: list[TakenSegment]
    offset_s: float  # the stream time of its first segment's start
    owned_to_s: float | None  # None: to its end (the stream's end, or a segment that did not decode)
    files: list[str] = field(default_factory=list)
    final: bool = False  # nothing comes after it: every window still open is decided


@dataclass
class LiveRecord:
    """What a live job has done; JSON in ``state.json``."""

    source: str = ""  # the media playlist followed (a master playlist's chosen variant)
    segments: list[TakenSegment] = field(default_factory=list)
    last_sequence: int = -1
    next_start_s: float = 0.0
    segment_count: int = 0
    skipped_count: int = 0
    missed_count: int = 0
    digest: str = ""  # sha256 chained over the segments' bytes: the stream's identity in the manifest
    selector: dict[str, Any] | None = None
    clips: list[dict[str, Any]] = field(default_factory=list)  # manifest clip entries, in the order made
    pending: list[dict[str, Any]] = field(default_factory=list)  # chosen, not yet rendered (with render inputs)
    announced: int = 0  # clips[:announced] have had their clip_ready published
    segments_announced: int = -1  # the last segment whose segment event has been published
    info: dict[str, Any] = field(default_factory=dict)  # width, height, fps, has_audio of the stream
    language: str = ""
    ended_by: str | None = None
    timings_s: dict[str, float] = field(default_factory=lambda: {"extract": 0.0, "score": 0.0, "export": 0.0})

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "segments"}
        out["segments"] = [s.__dict__ for s in self.segments]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LiveRecord:
        record = cls(**{k: v for k, v in data.items() if k != "segments"})
        record.segments = [TakenSegment(**s) for s in data.get("segments", [])]
        return record


class LiveStream:
    """One live job's segments and record, on disk under ``folder``."""

    def __init__(self, folder: Path, source: str, reader: SourceReader, idle_timeout_s: float,
                 piece_s: float) -> None:
        self.folder = folder
        self.segments_dir = folder / "segments"
        self.state_path = folder / "state.json"
        self.stream_path = folder / "stream.npz"
        self.piece_s = piece_s
        self.record = self._load() or LiveRecord(source=source)
        self.follower = PlaylistFollower(self.record.source or source, reader, idle_timeout_s,
                                         after=self.record.last_sequence)

    def _load(self) -> LiveRecord | None:
        try:
            return LiveRecord.from_dict(orjson.loads(self.state_path.read_bytes()))
        except FileNotFoundError:
            return None

    def save(self) -> None:
        write_bytes_atomic(self.state_path, orjson.dumps(self.record.to_dict()))

    @property
    def resumed(self) -> bool:
        return self.record.last_sequence >= 0

    # Taking segments (a thread: it reads files or the network)
    def take_new_segments(self) -> list[TakenSegment]:
        """Read the playlist, copy each new segment into the job's folder, and record it."""
        self.segments_dir.mkdir(parents=True, exist_ok=True)
        taken = []
        for segment in self.follower.poll():
            taken.append(self._take(segment))
        self.record.source = self.follower.source
        self.record.missed_count = max(self.record.missed_count, self.follower.missed)
        if taken:
            self.save()
        return taken

    def _take(self, segment: Segment) -> TakenSegment:
        body = self.follower.read_segment(segment)
        if self.follower.init_uri:  # fragmented MP4: each piece needs the initialisation section first
            init = self.folder / "init.mp4"
            if not init.exists():
                init.write_bytes(self.follower.reader.read(self.follower.init_uri, 16 << 20))
        entry = TakenSegment(segment.sequence, round(self.record.next_start_s, 6), segment.duration_s,
                             taken_at=time.time())
        tmp = self.segments_dir / f".{entry.file}.part"
        tmp.write_bytes(body)
        os.replace(tmp, self.segments_dir / entry.file)
        previous = bytes.fromhex(self.record.digest) if self.record.digest else b""
        self.record.digest = hashlib.sha256(previous + hashlib.sha256(body).digest()).hexdigest()
        problem = segment_problem(str(self.segments_dir / entry.file))
        if problem is not None:  # skipped with a warning: the stream goes on past it with nothing seen there
            log.warning("segment %d of %s does not decode (%s); skipped", segment.sequence, self.follower.source,
                        problem)
            entry.analysed = entry.skipped = True
            entry.problem = problem
            self.record.skipped_count += 1
        self.record.segments.append(entry)
        self.record.last_sequence = segment.sequence
        self.record.next_start_s = entry.end_s
        self.record.segment_count += 1
        return entry

    # Pieces
    @property
    def ended(self) -> bool:
        """The playlist has ended (or the job was told to end) and every segment has been analysed."""
        return self.record.ended_by is not None and all(s.analysed for s in self.record.segments)

    def end(self, reason: str) -> None:
        self.record.ended_by = self.record.ended_by or reason
        self.save()

    def next_piece(self) -> Piece | None:
        """The next piece to analyse, once ``piece_s`` of new stream has arrived or the stream has ended."""
        new = [s for s in self.record.segments if not s.analysed]
        if not new:
            return None
        holes = [s.start_s for s in self.record.segments if s.skipped and s.start_s > new[0].start_s]
        if holes:  # a piece never spans a segment that did not decode: those before it are a piece of their own
            return self._piece([s for s in new if s.start_s < min(holes)], owned_to_s=None, final=False)
        ending = self.record.ended_by is not None or self.follower.ended
        if not ending and (sum(s.duration_s for s in new) < self.piece_s or len(new) < 2):
            return None  # its last segment is the next lead-in: a piece owns at least one segment
        # Behind the stream (a slow machine, a restart): catch up in pieces of bounded length, so the memory
        # one piece's analysis needs does not grow with how far behind the job is.
        longest = max(MAX_PIECE_FACTOR * self.piece_s, MIN_MAX_PIECE_S)
        taken, length = [], 0.0
        for segment in new:
            if len(taken) >= 2 and length + segment.duration_s > longest:
                break
            taken.append(segment)
            length += segment.duration_s
        last = ending and len(taken) == len(new)
        return self._piece(taken, owned_to_s=None if last else taken[-1].start_s, final=last)

    def _piece(self, new: list[TakenSegment], owned_to_s: float | None, final: bool) -> Piece:
        """``new`` after one segment of lead-in: the last one analysed, where it joins ``new`` without a hole."""
        before = [s for s in self.record.segments if s.analysed and not s.skipped]
        lead = before[-1:] if before and abs(before[-1].end_s - new[0].start_s) < 1e-3 else []
        segments = lead + new
        return Piece(segments, segments[0].start_s, owned_to_s, [str(self.segments_dir / s.file) for s in segments],
                     final)

    def piece_done(self, piece: Piece, skipped: bool) -> None:
        owned = piece.segments if piece.owned_to_s is None else piece.segments[:-1]
        for segment in owned:
            if not segment.analysed:
                segment.analysed = True
                segment.skipped = skipped
                self.record.skipped_count += skipped

    def clip_source(self, start_s: float, end_s: float, margin_s: float = 1.0) -> tuple[list[str], float]:
        """The segment files that hold [start_s, end_s] (with ``margin_s`` each side), and the stream time of the
        first one's start: a clip renders from their concatenation, on that file's clock."""
        held = [s for s in self.record.segments
                if s.end_s > start_s - margin_s and s.start_s < end_s + margin_s]
        return [str(self.segments_dir / s.file) for s in held], held[0].start_s if held else 0.0

    def forget_old_segments(self, keep_from_s: float) -> None:
        """Delete the files of analysed segments that end before ``keep_from_s`` (no clip can reach them), keeping
        the last analysed one (the next lead-in): the disk a stream needs stays flat however long it runs."""
        analysed = [s for s in self.record.segments if s.analysed]
        lead = analysed[-1] if analysed else None
        kept = []
        for segment in self.record.segments:
            if segment.analysed and segment.end_s < keep_from_s and segment is not lead:
                (self.segments_dir / segment.file).unlink(missing_ok=True)
            else:
                kept.append(segment)
        self.record.segments = kept

    def latency_s(self, end_s: float) -> float:
        """Seconds from the arrival of the segment holding stream time ``end_s`` (a clip's last frame) until now."""
        holding = [s for s in self.record.segments if s.start_s <= end_s]
        arrived = holding[-1].taken_at if holding else 0.0
        return max(0.0, time.time() - arrived) if arrived else 0.0

    def poll_interval_s(self) -> float:
        return self.follower.poll_interval_s()


def concatenate(files: list[str], dest: Path, init: Path | None = None) -> Path:
    """Segments joined into one file (MPEG-TS joins byte by byte; fragmented MP4 after its init section)."""
    tmp = dest.with_name(f".{dest.name}.part")
    with open(tmp, "wb") as out:
        if init is not None and init.exists():
            out.write(init.read_bytes())
        for name in files:
            with open(name, "rb") as part:
                out.write(part.read())
    os.replace(tmp, dest)
    return dest
