"""End to end: `streamapp process` on a generated video, through the embedded broker, a worker and Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from streamapp.captions.placement import SafeArea
from streamapp.export.render import output_size
from streamapp.media.audio_master import integrated_lufs
from streamapp.reframe.path import LAYOUTS
from streamapp.transport.topics import Topics
from tests.talks import make_talk
from tests.videos import make_test_video

pytestmark = pytest.mark.integration


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamapp", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def cli_env(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STREAMAPP_BROKER"}  # the embedded broker, as a user has
    env.update({"STREAMAPP_REDIS_URL": redis_url, "STREAMAPP_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                "STREAMAPP_OUTPUT_LONG_SIDE": "480"})
    return env


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "talk.mp4"
    make_test_video(path, duration_s=36.0, cuts_s=(5.0, 12.0, 20.0, 28.0), silences=((10.0, 11.0),),
                    burst=(14.0, 18.0), seed=3)
    return path


@pytest.mark.consumer_groups  # `process` runs a local worker
def test_process_writes_clips_and_manifest(cli_env, video, tmp_path) -> None:
    result = run_cli(["process", str(video), "--out", str(tmp_path), "--max-clips", "3", "--min-duration", "6",
                      "--max-duration", "12", "--aspect", "1:1", "--caption-style", "clean", "--start", "2",
                      "--json"], cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    [manifest] = json.loads(result.stdout)  # always a list, one result per file
    assert manifest["options"]["caption_style"] == "clean" and manifest["options"]["range_start_s"] == 2.0
    assert min(c["start_s"] for c in manifest["clips"]) >= 2.0 - 0.3  # edges may snap to a pause just before
    job_dir = tmp_path / manifest["job_id"]
    assert json.loads((job_dir / "manifest.json").read_text()) == manifest
    assert manifest["source"]["sha256"] and manifest["source"]["width"] == 320
    assert 1 <= len(manifest["clips"]) <= 3
    spans = sorted((c["start_s"], c["end_s"]) for c in manifest["clips"])
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))
    for clip in manifest["clips"]:
        length = clip["end_s"] - clip["start_s"]
        assert 6.0 - 0.05 <= length <= 12.0 + 0.05
        assert clip["width"] == clip["height"] == output_size("1:1", 480)[0]
        with av.open(str(job_dir / clip["file"])) as container:
            video_stream, audio_stream = container.streams.video[0], container.streams.audio[0]
            assert (video_stream.codec_context.width, video_stream.codec_context.height) == (clip["width"],) * 2
            duration = float(container.duration) / av.time_base
            assert abs(duration - length) < 0.15
            assert audio_stream.codec_context.name == "aac"
            frames = sum(1 for _ in container.decode(video=0))
            assert abs(frames - length * 25) <= 2
    # The loud burst at 14-18 s lies in the best clip.
    best = max(manifest["clips"], key=lambda c: c["score"])
    assert best["start_s"] <= 16.0 <= best["end_s"]


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return make_talk(tmp_path_factory.mktemp("talk") / "talk.mp4", fps=25, size=(320, 180), cuts_s=(9.0,))


def _clip_loudness(path: Path) -> float:
    with av.open(str(path)) as container:
        audio = [f.to_ndarray().reshape(f.layout.nb_channels if f.format.is_planar else 1, -1)
                 for f in container.decode(audio=0)]
        rate = container.streams.audio[0].rate
    return integrated_lufs(np.concatenate(audio, axis=1), rate)


@pytest.mark.consumer_groups  # `process` runs a local worker
def test_process_gives_post_ready_clips_of_a_talk(cli_env, talk, tmp_path) -> None:
    """Edges between sentences, a layout per shot, captions inside the safe area, sound at -14 LUFS."""
    result = run_cli(["process", talk["path"], "--out", str(tmp_path), "--max-clips", "2", "--min-duration", "6",
                      "--max-duration", "14", "--keyword", "flooding", "--json"], cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    [manifest] = json.loads(result.stdout)  # always a list, one result per file
    job_dir = tmp_path / manifest["job_id"]
    assert manifest["options"]["keywords"] == ["flooding"] and manifest["language"] == "en"
    width, height = output_size("9:16", 480)
    safe = SafeArea(width, height)
    spoken = [(a, b) for a, b, _ in talk["sentences"]]
    assert manifest["clips"]
    for clip in manifest["clips"]:
        # The manifest's edges are the clip's true edges, and no sentence is cut at either.
        assert not any(a < t < b for t in (clip["start_s"], clip["end_s"]) for a, b in spoken), clip
        assert clip["layout"] in LAYOUTS
        assert clip["shots"] and {s["layout"] for s in clip["shots"]} <= set(LAYOUTS)
        assert clip["shots"][0]["start_s"] == 0.0
        assert clip["caption_boxes"], "a clip of speech has burned-in captions"
        for box in clip["caption_boxes"]:
            assert safe.contains((box["x"], box["y"], box["w"], box["h"])), box
        assert abs(_clip_loudness(job_dir / clip["file"]) - (-14.0)) <= 1.0
        assert abs(clip["loudness"]["output_lufs"] - (-14.0)) <= 1.0
        cues = (job_dir / clip["captions_srt"]).read_text()
        assert "-->" in cues
        # The title is one of the clip's own sentences, as Whisper heard it (so compared by its words).
        heard = {w.strip(".,?!").lower() for w in cues.split()}
        assert clip["title"] and len(set(clip["title"].lower().rstrip("\u2026").split()) - heard) <= 1, clip["title"]


@pytest.mark.consumer_groups  # `process` runs a local worker
def test_a_failing_file_does_not_stop_the_others(cli_env, video, tmp_path) -> None:
    bogus = tmp_path / "bogus.mp4"
    bogus.write_text("this is text, not a video")
    result = run_cli(["process", str(bogus), str(video), "--out", str(tmp_path / "out"), "--max-clips", "1",
                      "--min-duration", "5", "--max-duration", "8"], {**cli_env, "COLUMNS": "200"})
    assert result.returncode == 1
    assert "bogus.mp4" in result.stderr and "input_not_video" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "talk.mp4" in result.stdout and "done" in result.stdout
    assert len(list((tmp_path / "out").glob("*/clip-01.mp4"))) == 1


def test_usage_errors_exit_2_in_one_line(cli_env, tmp_path) -> None:
    result = run_cli(["process", "x.mp4", "--min-duration", "30", "--max-duration", "10"], cli_env)
    assert result.returncode == 2
    assert "min-duration" in result.stderr and "Traceback" not in result.stderr
    result = run_cli(["process", "x.mp4", "--start", "50", "--end", "20"], cli_env)
    assert result.returncode == 2 and "--start (50) must come before --end (20)" in result.stderr
    result = run_cli(["submit", "x.mp4", "--caption-style", "neon"], cli_env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    result = run_cli(["submit", "x.mp4"], {**cli_env, "STREAMAPP_BROKER": "nonsense"})
    assert result.returncode == 2 and "STREAMAPP_BROKER" in result.stderr
    result = run_cli(["worker"], {**cli_env, "STREAMAPP_POOL_SIZE": "5", "STREAMAPP_POOL_MAX_SIZE": "3"}, timeout=60)
    assert result.returncode == 2 and "pool_size must lie between" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli(["worker"], {**cli_env, "STREAMAPP_URL_TRUSTED_HOSTS": "media.local"}, timeout=60)
    assert result.returncode == 2 and "url_trusted_hosts" in result.stderr and "Traceback" not in result.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_cli(["worker"], {**cli_env, "STREAMAPP_BROKER": "kafka://127.0.0.1:9",
                                  "STREAMAPP_DATA_DIR": str(blocker / "data")}, timeout=60)
    assert result.returncode == 2 and "cannot create the data dir" in result.stderr
    assert "Traceback" not in result.stderr


def test_inputs_that_cannot_be_video_fail_before_anything_is_queued(cli_env, tmp_path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    result = run_cli(["process", str(tmp_path / "missing.mp4"), str(tmp_path), str(empty), "--out",
                      str(tmp_path / "out")], {**cli_env, "STREAMAPP_BROKER": "kafka://127.0.0.1:9"}, timeout=60)
    # No broker answers on port 9: reaching it would be broker trouble (3), not these one-line refusals.
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line.split(": ")[2] for line in lines] == ["input_missing", "input_missing", "input_empty"], lines
    result = run_cli(["process", str(empty), "--out", str(empty)], cli_env, timeout=60)
    assert result.returncode == 2 and "is a file" in result.stderr


def test_version() -> None:
    from importlib.metadata import version

    result = subprocess.run([sys.executable, "-m", "streamapp", "--version"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"streamapp {version('streamapp')}"


# Printed at exit by the command run in-process below: which broker-client packages it loaded, and whether the
# objects left were frozen (skipped by the collection at exit).
_LOADED_CLIENTS = """
import atexit, gc, sys
atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules} & {'aiokafka', 'faust', 'mode'}),
                              gc.get_freeze_count() > 0))
sys.argv = ['streamapp', *sys.argv[1:]]
from streamapp.launch import main
main()
"""


def test_commands_without_a_broker_load_no_broker_client(tmp_path) -> None:
    """`analyze` and `shots` need no broker: start-up is most of a short file's command, and the clients cost it;
    so does the collection at exit, which the frozen objects skip."""
    path = tmp_path / "short.mp4"
    make_test_video(path, duration_s=4.0, size=(160, 96), cuts_s=(2.0,), silences=(), burst=(1.0, 1.5), seed=1)
    for args in (["shots", str(path), "--json"], ["analyze", str(path), "--no-asr", "--json"]):
        result = subprocess.run([sys.executable, "-c", _LOADED_CLIENTS, *args], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stdout.strip().splitlines()[-1] == "[] True", (args, result.stdout[-300:])


def test_shell_completion_script_names_the_commands() -> None:
    script = Path(sys.executable).with_name("streamapp")  # the console script: completion is keyed by its name
    # Typer otherwise ignores "bash" and asks shellingham for the shell this runs under, found by walking the
    # process tree: a suite started in the background, with no shell above it, got "Shell  not supported".
    named = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    result = subprocess.run([str(script), "--show-completion", "bash"], env=named, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "_STREAMAPP_COMPLETE" in result.stdout, result.stderr
    env = {**os.environ, "_STREAMAPP_COMPLETE": "complete_bash", "COMP_WORDS": "streamapp can", "COMP_CWORD": "1"}
    words = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60).stdout.split()
    assert words == ["cancel"]


def test_a_dead_broker_is_one_line_for_every_client_command(cli_env, video, tmp_path) -> None:
    env = {**cli_env, "STREAMAPP_BROKER": "kafka://127.0.0.1:9"}  # nothing listens on port 9
    for args in (["submit", str(video)], ["status", "some-job"], ["process", str(video), "--out", str(tmp_path)]):
        result = run_cli(args, env, timeout=60)
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        assert result.returncode == 3, (args, lines)
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, lines)


def test_topics_create_lists_every_topic_and_what_it_did(stack_env) -> None:
    env = {**stack_env, "STREAMAPP_TOPIC_PREFIX": stack_env["STREAMAPP_TOPIC_PREFIX"] + "tc",
           "STREAMAPP_JOB_PARTITIONS": "4"}
    first = run_cli(["topics", "create"], env, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    lines = [line.split("\t") for line in first.stdout.splitlines() if "\t" in line]
    count = len(Topics().specs())  # every topic the deployment uses, the live segments' too
    assert len(lines) == count and all(note.startswith("created") for _, _, note in lines)
    status = next(line for line in lines if line[0].endswith(".job-status"))
    assert status[1] == "4 partitions"
    again = run_cli(["topics", "create"], {**env, "STREAMAPP_JOB_PARTITIONS": "6"}, timeout=120)
    assert again.returncode == 0 and f"created 0 topic(s), {count} existed" in again.stdout
    # The settings now ask for more partitions than the topic has: said, not silently ignored.
    assert "settings ask 6 partitions" in next(line for line in again.stdout.splitlines() if ".job-status" in line)
