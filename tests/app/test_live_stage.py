"""Integration: live jobs on a real broker and worker, following an HLS stream written while the test runs."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from streamapp.client import JobOutcome, stop_jobs, submission
from streamapp.manifest import manifest_files
from streamapp.stages.extract import AnalysisParams, Signals, extract
from tests.app.test_recovery import follow_jobs, new_worker
from tests.app.test_worker import read_topic_until
from tests.live_streams import play_hls
from tests.videos import make_test_video

pytestmark = [pytest.mark.integration, pytest.mark.consumer_groups]  # workers of their own

FPS = 25
# 5.0 and 21.0 fall exactly on segment borders (one-second segments), the others inside segments.
CUTS = (5.0, 12.4, 21.0, 30.6, 41.0)
LIVE_ENV = {"STREAMAPP_LIVE_WARMUP_S": "10", "STREAMAPP_LIVE_PIECE_S": "4", "STREAMAPP_LIVE_LOOKAHEAD_S": "2",
            "STREAMAPP_LIVE_CLIPS_PER_HOUR": "3600", "STREAMAPP_LIVE_MIN_SCORE": "0",
            "STREAMAPP_LIVE_TOP_SHARE": "0.5", "STREAMAPP_LIVE_IDLE_TIMEOUT_S": "20"}
OPTIONS = {"min_duration_s": 5.0, "max_duration_s": 10.0}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make_test_video(tmp_path_factory.mktemp("media") / "stream.mp4", duration_s=50.0, size=(320, 180),
                           cuts_s=CUTS, silences=((9.0, 10.0), (26.0, 27.5)), burst=(33.0, 35.5), fps=FPS)


class PlaylistWatch(threading.Thread):
    """When the playlist first said #EXT-X-ENDLIST (wall clock), read as a player would."""

    def __init__(self, playlist: Path) -> None:
        super().__init__(daemon=True)
        self.playlist = playlist
        self.ended_at: float | None = None
        self.stop = False

    def run(self) -> None:
        while not self.stop and self.ended_at is None:
            try:
                if "#EXT-X-ENDLIST" in self.playlist.read_text():
                    self.ended_at = time.time()
            except OSError:
                pass
            time.sleep(0.05)


def live_run(stack_env, bootstrap, topics, source, tmp_path, on_change=None, speed: float = 3.0,  # noqa: ANN001
             workers: list | None = None):
    writer = play_hls(source["path"], tmp_path / "hls", speed=speed, fps=FPS)
    watch = PlaylistWatch(tmp_path / "hls" / "live.m3u8")
    watch.start()
    job = submission(tmp_path / "hls" / "live.m3u8", tmp_path / "out", options=OPTIONS, live=True)
    arrivals: dict[str, float] = {}

    def note(outcome: JobOutcome, event: dict[str, Any]) -> None:
        if event["type"] == "clip_ready":
            arrivals.setdefault(event["clip"]["id"], time.time())
        if on_change:
            on_change(outcome, event)

    try:
        outcomes, seen = asyncio.run(follow_jobs(bootstrap, topics, [job], note, timeout_s=240))
    finally:
        writer.kill()
        watch.stop = True
    return job, outcomes[job["job_id"]], seen, arrivals, watch.ended_at


def segment_events(bootstrap: str, topics, job_id: str, count: int) -> list[int]:  # noqa: ANN001
    """The sequence numbers of the job's segment events, once ``count`` distinct ones have arrived."""
    def sequences(found: list[Any]) -> list[int]:
        events = (orjson.loads(m.value) for m in found)
        return [e["sequence"] for e in events if e["job_id"] == job_id and "warning" not in e]

    found = asyncio.run(read_topic_until(bootstrap, topics.segments, lambda f: len(set(sequences(f))) >= count))
    return sequences(found)


def joined_segments(folder: Path) -> Path:
    """The stream's segments joined into one file, as a recording of the whole stream."""
    joined = folder / "joined.ts"
    joined.write_bytes(b"".join(p.read_bytes() for p in sorted(folder.glob("seg*.ts"))))
    return joined


def stream_signals(stack_env: dict[str, str], job_id: str) -> Signals:
    return Signals.load(Path(stack_env["STREAMAPP_DATA_DIR"]) / "jobs" / job_id / "live" / "stream.npz")


def test_a_live_job_posts_clips_while_the_stream_plays_and_ends_at_endlist(stack_env, bootstrap, topics, source,
                                                                           tmp_path) -> None:
    worker = new_worker(stack_env, tmp_path, "live", **LIVE_ENV)
    try:
        job, outcome, seen, arrivals, ended_at = live_run(stack_env, bootstrap, topics, source, tmp_path)
    finally:
        worker.stop()
    assert outcome.state == "done", outcome.error
    manifest = outcome.manifest
    assert manifest["live"]["ended_by"] == "endlist" and manifest["live"]["skipped_segments"] == 0
    assert manifest["source"]["duration_s"] == pytest.approx(source["duration_s"], abs=0.1)
    assert ended_at is not None and arrivals, "no clip, or the playlist never ended"
    assert min(arrivals.values()) < ended_at, "the first clip came only after the stream ended"
    # Each clip announced once, and exactly the files the manifest names are in the job's folder.
    ready = [e["clip"]["id"] for e in seen if e["type"] == "clip_ready"]
    assert len(ready) == len(set(ready)) == len(manifest["clips"])
    assert sorted(p.name for p in (tmp_path / "out" / job["job_id"]).iterdir()) == sorted(manifest_files(manifest))
    spans = sorted((c["start_s"], c["end_s"]) for c in manifest["clips"])
    assert all(b <= c + 1e-3 for (_, b), (c, _) in zip(spans, spans[1:], strict=False))
    # One segment event per segment, in order, on the segments topic.
    sequences = segment_events(bootstrap, topics, job["job_id"], manifest["live"]["segments"])
    assert sequences == list(range(manifest["live"]["segments"]))
    # Every cut found once and on its frame, those on segment borders too: state carried across borders.
    signals = stream_signals(stack_env, job["job_id"])
    cuts = np.array(signals.cuts_s)
    # The planted loud moment (33-35.5 s) spans three segment borders: found as extract finds it in the whole
    # stream read in one go (the streamer's AAC makes two bursts of it, 0.4 s apart), and so is every silence.
    whole = extract(str(joined_segments(tmp_path / "hls")), AnalysisParams(faces=False))
    assert any(b[1] > 33.0 and b[0] < 35.5 for b in signals.bursts), signals.bursts
    assert np.ravel(signals.bursts) == pytest.approx(np.ravel(whole.bursts), abs=0.051)
    assert np.ravel(signals.silences) == pytest.approx(np.ravel(whole.silences), abs=0.051)
    for cut in CUTS:
        assert np.sum(np.abs(cuts - cut) <= 1.0 / FPS + 1e-6) == 1, (cut, cuts)
    assert len(cuts) == len(CUTS), cuts


def test_a_killed_worker_resumes_the_stream_without_making_a_clip_twice(stack_env, bootstrap, topics, source,
                                                                       tmp_path) -> None:
    first = new_worker(stack_env, tmp_path, "first", **LIVE_ENV)
    started: list[Any] = []
    killed: list[float] = []

    def kill_after_first_clip(outcome: JobOutcome, event: dict[str, Any]) -> None:
        if not killed and event["type"] == "clip_ready":
            killed.append(time.time())
            first.kill()
            started.append(new_worker(stack_env, tmp_path, "second", **LIVE_ENV))

    try:
        job, outcome, seen, arrivals, ended_at = live_run(stack_env, bootstrap, topics, source, tmp_path,
                                                          kill_after_first_clip, speed=2.0)
    finally:
        first.stop()
        for worker in started:
            worker.stop()
    assert killed and ended_at is not None and killed[0] < ended_at, "the worker was not killed mid-stream"
    assert outcome.state == "done", outcome.error
    manifest = outcome.manifest
    ready = [e["clip"]["id"] for e in seen if e["type"] == "clip_ready"]
    assert len(ready) == len(set(ready)) == len(manifest["clips"]) >= 2  # clips after the restart, none twice
    spans = sorted((c["start_s"], c["end_s"]) for c in manifest["clips"])
    assert all(b <= c + 1e-3 for (_, b), (c, _) in zip(spans, spans[1:], strict=False))
    assert sorted(p.name for p in (tmp_path / "out" / job["job_id"]).iterdir()) == sorted(manifest_files(manifest))
    # The stream went on from where it was: its length whole, each cut once.
    assert manifest["source"]["duration_s"] == pytest.approx(source["duration_s"], abs=0.1)
    sequences = segment_events(bootstrap, topics, job["job_id"], manifest["live"]["segments"])
    assert sorted(set(sequences)) == list(range(manifest["live"]["segments"]))  # a segment re-taken after the kill
    assert sequences == sorted(sequences)  # is announced again at most, never out of order
    cuts = np.array(stream_signals(stack_env, job["job_id"]).cuts_s)
    assert len(cuts) == len(CUTS) and all(np.min(np.abs(cuts - c)) <= 1.0 / FPS + 1e-6 for c in CUTS), cuts


def stalled_playlist_with_a_bad_segment(source: dict[str, Any], folder: Path, bad: int) -> Path:
    """All of ``source`` as one-second segments in a playlist that never ends, segment ``bad`` garbage."""
    writer = play_hls(source["path"], folder, speed=100.0, fps=FPS)
    assert writer.wait(timeout=60) == 0, writer.stderr.read() if writer.stderr else ""
    playlist = folder / "live.m3u8"
    playlist.write_text(playlist.read_text().replace("#EXT-X-ENDLIST\n", ""))
    (folder / f"seg{bad:05d}.ts").write_bytes(b"\x00not a transport stream\x00" * 400)
    return playlist


def test_a_stalled_stream_ends_with_what_it_made_and_a_bad_segment_is_skipped(stack_env, bootstrap, topics, source,
                                                                              tmp_path) -> None:
    playlist = stalled_playlist_with_a_bad_segment(source, tmp_path / "hls", bad=23)
    worker = new_worker(stack_env, tmp_path, "stalled", **{**LIVE_ENV, "STREAMAPP_LIVE_IDLE_TIMEOUT_S": "4"})
    job = submission(playlist, tmp_path / "out", options=OPTIONS, live=True)
    try:
        outcomes, seen = asyncio.run(follow_jobs(bootstrap, topics, [job], timeout_s=180))
    finally:
        worker.stop()
    outcome = outcomes[job["job_id"]]
    assert outcome.state == "done", outcome.error
    live = outcome.manifest["live"]
    assert live["ended_by"] == "stalled" and live["skipped_segments"] == 1 and live["segments"] == 50
    assert outcome.manifest["clips"], "the stream had clips to make before it stalled"
    found = asyncio.run(read_topic_until(bootstrap, topics.segments, lambda f: any(
        b"segment_undecodable" in m.value and job["job_id"].encode() in m.value for m in f)))
    warned = [orjson.loads(m.value) for m in found if b"warning" in m.value and job["job_id"].encode() in m.value]
    assert [e["sequence"] for e in warned] == [23] and warned[0]["warning"]["code"] == "segment_undecodable"
    # The hole is a hole: no frame analysed inside segment 23's second, the stream on both sides of it.
    times = stream_signals(stack_env, job["job_id"]).frame_times_s
    assert not np.any((times >= 23.0 + 1e-6) & (times < 24.0 - 1e-6)) and times.max() > 48.0 and times.min() < 0.1


def test_a_stream_that_never_starts_fails_with_its_reason(stack_env, bootstrap, topics, tmp_path) -> None:
    worker = new_worker(stack_env, tmp_path, "never", **{**LIVE_ENV, "STREAMAPP_LIVE_IDLE_TIMEOUT_S": "3"})
    job = submission(tmp_path / "nobody-streams-here.m3u8", tmp_path / "out", options=OPTIONS, live=True)
    try:
        outcomes, _ = asyncio.run(follow_jobs(bootstrap, topics, [job], timeout_s=120))
    finally:
        worker.stop()
    outcome = outcomes[job["job_id"]]
    assert outcome.state == "failed" and outcome.error["code"] == "live_source_stalled", outcome.error


def test_a_stop_request_ends_the_stream_with_its_clips(stack_env, bootstrap, topics, source, tmp_path) -> None:
    worker = new_worker(stack_env, tmp_path, "stop", **LIVE_ENV)
    asked: list[dict[str, str]] = []
    askers: list[threading.Thread] = []

    def stop_once_clipping(outcome: JobOutcome, event: dict[str, Any]) -> None:
        if not askers and event["type"] == "clip_ready":  # mid-stream: the stream plays for 50 s at 1x
            # A client of its own, as `streamapp stop` is (this callback runs inside the follower's event loop).
            askers.append(threading.Thread(target=lambda: asked.append(
                asyncio.run(stop_jobs(bootstrap, topics, [event["job_id"]])))))
            askers[0].start()

    try:
        job, outcome, _, _, ended_at = live_run(stack_env, bootstrap, topics, source, tmp_path, stop_once_clipping,
                                                speed=1.0)
    finally:
        worker.stop()
    for asker in askers:
        asker.join(30)
    assert asked and list(asked[0].values()) == ["requested"]
    assert outcome.state == "done", outcome.error
    manifest = outcome.manifest
    assert manifest["live"]["ended_by"] == "stopped" and manifest["clips"]
    assert ended_at is None or manifest["source"]["duration_s"] < source["duration_s"] - 5.0  # it ended early
