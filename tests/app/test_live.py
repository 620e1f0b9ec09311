"""A live job's bookkeeping on disk (app/live.py): segments taken once, pieces that tile the stream, a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamapp.app.live import MIN_MAX_PIECE_S, LiveStream
from streamapp.media.hls import SourceReader
from tests.live_streams import play_hls
from tests.videos import make_test_video


@pytest.fixture(scope="module")
def playlist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 50-second stream already written (one-second segments), its playlist not ended yet."""
    folder = tmp_path_factory.mktemp("stream")
    video = make_test_video(folder / "v.mp4", duration_s=50.0, size=(160, 90), silences=(), burst=None)
    writer = play_hls(video["path"], folder / "hls", speed=100.0)
    assert writer.wait(timeout=60) == 0
    path = folder / "hls" / "live.m3u8"
    path.write_text(path.read_text().replace("#EXT-X-ENDLIST\n", ""))
    return path


def analyse_all(stream: LiveStream) -> list[tuple[float, float | None, bool, int]]:
    """(offset, owned_to, final, new segments) of each piece until none is ready, marking each analysed."""
    out = []
    while (piece := stream.next_piece()) is not None:
        lead = 1 if piece.segments[0].analysed else 0
        out.append((piece.offset_s, piece.owned_to_s, piece.final, len(piece.segments) - lead))
        stream.piece_done(piece, skipped=False)
        stream.save()
    return out


def test_a_job_behind_its_stream_catches_up_in_bounded_pieces_that_tile_it(playlist: Path, tmp_path: Path) -> None:
    stream = LiveStream(tmp_path / "live", str(playlist), SourceReader(), idle_timeout_s=30.0, piece_s=4.0)
    assert len(stream.take_new_segments()) == 50
    pieces = analyse_all(stream)
    assert all(length <= MIN_MAX_PIECE_S + 1 for *_, length in pieces)  # 50 s behind: no 50-second piece
    assert not any(final for _, _, final, _ in pieces)  # the playlist has not ended
    # Each piece owns from where the last one stopped: offsets trail by one lead-in segment, no gap, no overlap.
    owned = [(0.0, pieces[0][1])] + [(prev[1], this[1]) for prev, this in zip(pieces, pieces[1:], strict=False)]
    assert all(b > a for a, b in owned) and pieces[1][0] == pytest.approx(pieces[0][1] - 1.0)
    # A restart (the record read back from disk) takes nothing twice and goes on to the end.
    again = LiveStream(tmp_path / "live", str(playlist), SourceReader(), idle_timeout_s=30.0, piece_s=4.0)
    assert again.resumed and again.take_new_segments() == []
    playlist.write_text(playlist.read_text() + "#EXT-X-ENDLIST\n")
    assert again.take_new_segments() == [] and again.follower.ended
    again.end("endlist")
    last = analyse_all(again)
    assert len(last) == 1 and last[0][2] and last[0][1] is None and last[0][0] == pytest.approx(pieces[-1][1] - 1.0)
    assert again.ended and again.record.segment_count == 50


def test_old_segments_are_deleted_once_no_clip_can_reach_them(playlist: Path, tmp_path: Path) -> None:
    stream = LiveStream(tmp_path / "live", str(playlist), SourceReader(), idle_timeout_s=30.0, piece_s=4.0)
    stream.take_new_segments()
    analyse_all(stream)
    stream.forget_old_segments(keep_from_s=30.0)
    kept = sorted(p.name for p in (tmp_path / "live" / "segments").iterdir())
    assert [s.file for s in stream.record.segments] == kept
    assert stream.record.segments[0].end_s >= 30.0 and len(kept) < 50
    files, shift = stream.clip_source(35.0, 40.0)
    assert shift == pytest.approx(34.0) and len(files) == 7  # 34-41 s: the clip with a second each side
