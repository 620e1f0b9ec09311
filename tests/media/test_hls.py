import time
from pathlib import Path

import av
import pytest

from streamapp.errors import InputError
from streamapp.media.hls import PlaylistFollower, SourceReader, parse_playlist
from tests.live_streams import play_hls, wait_for
from tests.videos import make_test_video

EVENT = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-PLAYLIST-TYPE:EVENT
#EXTINF:2.000000,
seg7.ts
#EXT-X-DISCONTINUITY
#EXTINF:1.960000,
sub%20dir/seg8.ts
"""


def test_an_event_playlist_reads_segments_with_sequence_numbers() -> None:
    playlist = parse_playlist(EVENT, "/streams/live.m3u8")
    assert [s.sequence for s in playlist.segments] == [7, 8]
    assert [s.uri for s in playlist.segments] == ["/streams/seg7.ts", "/streams/sub dir/seg8.ts"]
    assert [s.duration_s for s in playlist.segments] == [2.0, 1.96]
    assert [s.discontinuity for s in playlist.segments] == [False, True]
    assert playlist.kind == "EVENT" and not playlist.ended and playlist.target_duration_s == 2.0
    ended = parse_playlist(EVENT + "#EXT-X-ENDLIST\n", "http://cdn.example/a/live.m3u8")
    assert ended.ended and ended.segments[0].uri == "http://cdn.example/a/seg7.ts"


def test_a_master_playlist_names_its_variants_best_first() -> None:
    text = ('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"\n'
            'low/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=5000000\nhigh/index.m3u8\n')
    playlist = parse_playlist(text, "/s/master.m3u8")
    assert playlist.variants == ("/s/high/index.m3u8", "/s/low/index.m3u8") and not playlist.segments


@pytest.mark.parametrize("text", ["", "not a playlist", "#EXTM3U\n#EXT-X-TARGETDURATION:two\n",
                                  "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n"])
def test_bad_playlists_are_refused_with_one_code(text: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_playlist(text, "/s/live.m3u8")
    assert refused.value.code == "live_playlist_invalid"


def test_a_url_playlist_needs_urls_allowed() -> None:
    with pytest.raises(InputError) as refused:
        SourceReader(allow_urls=False).read("http://cdn.example/live.m3u8", 1000)
    assert refused.value.code == "input_url_refused"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_follower_hands_out_each_segment_once_and_notes_dropped_ones(tmp_path: Path) -> None:
    playlist = tmp_path / "live.m3u8"
    clock = FakeClock()
    follower = PlaylistFollower(str(playlist), SourceReader(), idle_timeout_s=10.0, clock=clock)

    def write(first: int, count: int, ended: bool = False) -> None:
        body = f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{first}\n"
        body += "".join(f"#EXTINF:2.0,\ns{first + i}.ts\n" for i in range(count))
        playlist.write_text(body + ("#EXT-X-ENDLIST\n" if ended else ""))

    assert follower.poll() == []  # not written yet: waiting, not failing
    write(0, 2)
    assert [s.sequence for s in follower.poll()] == [0, 1]
    assert follower.poll() == []
    write(0, 3)
    assert [s.sequence for s in follower.poll()] == [2]
    write(5, 2)  # a sliding window that moved past 3 and 4 before they were read
    assert [s.sequence for s in follower.poll()] == [5, 6] and follower.missed == 2
    clock.now = 11.0
    with pytest.raises(InputError) as stalled:
        follower.poll()
    assert stalled.value.code == "live_source_stalled"
    write(5, 3, ended=True)
    assert [s.sequence for s in follower.poll()] == [7] and follower.ended
    assert follower.poll() == []


def test_a_resumed_follower_starts_after_the_last_segment_taken(tmp_path: Path) -> None:
    playlist = tmp_path / "live.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + "".join(f"#EXTINF:2.0,\ns{i}.ts\n" for i in range(4)))
    follower = PlaylistFollower(str(playlist), SourceReader(), idle_timeout_s=10.0, after=1)
    assert [s.sequence for s in follower.poll()] == [2, 3]


def test_segments_of_a_stream_written_while_it_plays_join_into_the_whole_video(tmp_path: Path) -> None:
    video = make_test_video(tmp_path / "v.mp4", duration_s=6.0, cuts_s=(2.5,), silences=(), burst=None)
    writer = play_hls(video["path"], tmp_path / "hls", speed=3.0)
    follower = PlaylistFollower(str(tmp_path / "hls" / "live.m3u8"), SourceReader(), idle_timeout_s=20.0)
    wait_for(tmp_path / "hls" / "live.m3u8")
    taken, polls_with_new = [], 0
    while not follower.ended:
        new = follower.poll()
        polls_with_new += bool(new)
        taken.extend(new)
        time.sleep(follower.poll_interval_s())
    assert writer.wait(timeout=30) == 0
    assert polls_with_new >= 2  # they arrived over time, not all at once
    assert [s.sequence for s in taken] == list(range(len(taken)))
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(follower.read_segment(s) for s in taken))
    with av.open(str(joined)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == video["n_frames"]
