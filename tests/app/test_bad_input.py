"""Integration: every kind of bad input ends as a job-failed event with its code and one line, the worker
stays up, and inputs that are odd but usable (no audio, corrupt frames) still make clips."""

from __future__ import annotations

import asyncio
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import orjson
import pytest

from streamapp.client import Submitter, submission
from tests.app.test_recovery import follow_jobs, new_worker
from tests.app.test_worker import read_dead_letters
from tests.videos import make_test_video

pytestmark = [pytest.mark.integration, pytest.mark.consumer_groups]  # workers of their own

OPTIONS = {"max_clips": 1, "min_duration_s": 3.0, "max_duration_s": 6.0}


def write_audio_only(path: Path) -> None:
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "mono"
        samples = (0.1 * np.sin(np.arange(48000 * 3) / 48000 * 2 * np.pi * 440)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate = 48000
            frame.pts = start
            frame.time_base = Fraction(1, 48000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    base = tmp_path_factory.mktemp("bad")
    root = base / "inputs"
    root.mkdir()
    outside = base / "outside.mp4"
    make_test_video(outside, duration_s=8.0, cuts_s=(4.0,), silences=(), burst=None)
    cases: dict[str, Path | str] = {"outside_dotdot": root / ".." / "outside.mp4", "outside_symlink": root / "link.mp4"}
    cases["outside_symlink"].symlink_to(outside)
    (root / "empty.mp4").write_bytes(b"")
    cases["empty"] = root / "empty.mp4"
    (root / "text.mp4").write_text("not a video at all")
    cases["text"] = root / "text.mp4"
    cases["missing"] = root / "missing.mp4"
    write_audio_only(root / "audio.m4a")
    cases["audio_only"] = root / "audio.m4a"
    make_test_video(root / "silent.mp4", duration_s=8.0, cuts_s=(4.0,), silences=(), burst=None, audio=False)
    cases["no_audio"] = root / "silent.mp4"
    make_test_video(root / "whole.mp4", duration_s=10.0, cuts_s=(5.0,), silences=(), burst=None, seed=4)
    data = (root / "whole.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])  # index at the end: nothing can be read
    cases["truncated"] = root / "truncated.mp4"
    make_test_video(root / "fast.mp4", duration_s=10.0, cuts_s=(5.0,), silences=(), burst=None, seed=5,
                    faststart=True)
    corrupt = bytearray((root / "fast.mp4").read_bytes())
    middle = len(corrupt) // 2
    corrupt[middle:middle + 4000] = bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8))
    (root / "corrupt.mp4").write_bytes(bytes(corrupt))
    cases["corrupt_frames"] = root / "corrupt.mp4"
    make_test_video(root / "long.mp4", duration_s=25.0, cuts_s=(5.0,), silences=(), burst=None, seed=6)
    cases["too_long"] = root / "long.mp4"
    make_test_video(root / "big.mp4", duration_s=4.0, size=(640, 480), cuts_s=(), silences=(), burst=None)
    cases["too_big"] = root / "big.mp4"
    cases["url"] = "http://example.com/video.mp4"  # URL inputs are off by default
    return cases


EXPECTED_FAILURES = {
    "outside_dotdot": "input_forbidden",
    "outside_symlink": "input_forbidden",
    "empty": "input_empty",
    "text": "input_not_video",
    "missing": "input_missing",
    "audio_only": "no_video_stream",
    "truncated": "input_not_video",
    "too_long": "input_too_large",
    "too_big": "input_too_large",
    "url": "input_url_refused",
}


def test_bad_inputs_fail_with_their_codes(stack_env, bootstrap, topics, inputs, tmp_path) -> None:
    root = Path(inputs["empty"]).parent
    worker = new_worker(stack_env, tmp_path, "bad", STREAMAPP_INPUT_ROOTS=json.dumps([str(root)]),
                        STREAMAPP_MAX_DURATION_INPUT_S="20", STREAMAPP_MAX_PIXELS=str(480 * 360))
    jobs = {name: submission(path, tmp_path, options=OPTIONS) for name, path in inputs.items()}
    try:
        outcomes, _ = asyncio.run(follow_jobs(bootstrap, topics, list(jobs.values())))
        assert worker.alive()
    finally:
        worker.stop()
    for name, code in EXPECTED_FAILURES.items():
        outcome = outcomes[jobs[name]["job_id"]]
        assert (outcome.state, outcome.error and outcome.error["code"]) == ("failed", code), name
        assert outcome.error["message"] and "\n" not in outcome.error["message"]
    silent = outcomes[jobs["no_audio"]["job_id"]]
    assert silent.state == "done" and silent.manifest["source"]["has_audio"] is False
    with av.open(str(tmp_path / silent.job_id / silent.manifest["clips"][0]["file"])) as clip:
        assert clip.streams.video and not clip.streams.audio
    corrupt = outcomes[jobs["corrupt_frames"]["job_id"]]
    assert corrupt.state == "done", corrupt.error


def test_oversized_and_unknown_version_events_are_dead_lettered(worker, bootstrap, topics) -> None:
    big = submission("/x.mp4", "/out")
    big["request"]["options"] = {}
    raw = orjson.dumps({**big, "padding": "x" * 70_000})
    unknown = orjson.dumps({**submission("/y.mp4", "/out"), "schema_version": 2})

    async def send() -> None:
        async with Submitter(bootstrap, topics) as submitter:
            await submitter.send_raw(topics.videos, raw, partition=1)
            await submitter.send_raw(topics.videos, unknown, partition=1)

    asyncio.run(send())
    letters = read_dead_letters(bootstrap, topics, ("event_too_large", "event_unknown_version"))
    reasons = [letter["reason"] for letter in letters]
    assert any(r.startswith("event_too_large") for r in reasons), f"{reasons}; worker log tail:\n{worker.log()}"
    assert any(r.startswith("event_unknown_version") for r in reasons)
    assert worker.alive()
