"""The ``streamapp`` command: process, analyze, shots, worker, submit, status, cancel, stop, edit, topics, broker.

The CLI only calls into the package: transport for the broker, client for events, app for the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.table import Table

from streamapp.errors import InputError, StreamappError
from streamapp.fileio import remove_temp_files
from streamapp.launch import loading
from streamapp.media.fetch import is_url
from streamapp.options import CAPTION_STYLES, check_options, merge_options
from streamapp.settings import Settings

# The broker's clients and rich's progress bars are imported inside the commands that use them, so that
# `analyze` and `shots` (no broker) start without loading them: a short file's whole command is mostly start-up.
if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from streamapp.client import JobOutcome
    from streamapp.transport.topics import Topics

app = typer.Typer(add_completion=True, no_args_is_help=True, help="Turn long videos into scored short clips.")
topics_app = typer.Typer(no_args_is_help=True, help="Manage the Kafka topics streamapp uses.")
app.add_typer(topics_app, name="topics")
console = Console(stderr=True, soft_wrap=True)  # one-line errors stay one line in logs and pipes


def stdout_console() -> Console:
    """Tables on stdout: the terminal's width, or wide enough not to wrap when piped (rich's 80 otherwise)."""
    return Console(width=None if sys.stdout.isatty() else 200)

JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # schemas/common.schema.json#/$defs/job_id
CLIP_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")  # schemas/clip_edit.schema.json clip_id

EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_INFRA = 3
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
STOP_GRACE_S = 3.0  # Ctrl-C: how long the local worker gets to stop cleanly before it is killed
STAGES = ("extract", "score", "export")


class AspectChoice(StrEnum):
    portrait = "9:16"
    square = "1:1"
    four_five = "4:5"
    landscape = "16:9"


CaptionStyleChoice = StrEnum("CaptionStyleChoice", {name: name for name in CAPTION_STYLES})


class LayoutChoice(StrEnum):  # schemas: clip_layout
    auto = "auto"
    crop = "crop"
    fit = "fit"


class PriorityChoice(StrEnum):
    high = "high"
    normal = "normal"
    low = "low"


def die(message: str, code: int) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        # A rule across settings (pool_size within its bounds) has no single setting to name.
        where = f"setting STREAMAPP_{str(first['loc'][0]).upper()}" if first["loc"] else "settings"
        die(f"bad {where}: {first['msg']}", EXIT_USAGE)
        raise  # unreachable
    except SettingsError as exc:  # a list or mapping setting that is not JSON
        die(f"bad settings: {exc} (lists and mappings are JSON, e.g. '[\"a\", \"b\"]')", EXIT_USAGE)
        raise  # unreachable


def require_broker(settings: Settings) -> str:
    if not settings.broker:
        die("no broker configured: set STREAMAPP_BROKER=kafka://host:9092 "
            "(`streamapp process` starts an embedded one by itself)", EXIT_USAGE)
    return settings.bootstrap_servers


def quiet_client_logs() -> None:
    """A client command reports broker trouble in one line of its own: aiokafka's per-attempt connection
    errors ("Unable connect to ...") would bury it. Workers keep those logs: operators need them."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def local_input_problem(video: Path) -> tuple[str, str] | None:
    """(code, message) when a local input cannot be a video at all: missing, a folder, empty. The same
    codes as the worker's probe; URLs and anything subtler are left to the worker."""
    if is_url(str(video)):
        return None
    if not video.is_file():
        return "input_missing", "file not found" if not video.exists() else "a folder, not a video file"
    if video.stat().st_size == 0:
        return "input_empty", "file is empty"
    return None


def clip_options(settings: Settings, max_clips: int | None, min_duration: float | None,
                 max_duration: float | None, aspect: AspectChoice | None,
                 keywords: list[str] | None = None, *, start: float | None = None, end: float | None = None,
                 caption_style: CaptionStyleChoice | None = None, captions: bool = True) -> dict[str, Any]:
    """The job options given on the command line, checked as the API and the worker check them (and
    against the settings' defaults), or exit with a usage error."""
    given = {"max_clips": max_clips, "min_duration_s": min_duration, "max_duration_s": max_duration,
             "aspect": aspect.value if aspect else None, "keywords": list(keywords) if keywords else None,
             "range_start_s": start, "range_end_s": end,
             "caption_style": caption_style.value if caption_style else None, "captions": None if captions else False}
    try:
        options = check_options(given)
        merge_options(settings, options)
    except InputError as exc:
        flags = {"min_duration_s": "--min-duration", "max_duration_s": "--max-duration", "max_clips": "--max-clips",
                 "range_start_s": "--start", "range_end_s": "--end"}
        message = exc.message
        for name, flag in flags.items():
            message = message.replace(name, flag)
        die(message, EXIT_USAGE)
        raise
    return options


MaxClips = Annotated[int | None, typer.Option("--max-clips", min=1, max=100, help="Most clips per video.")]
MinDuration = Annotated[float | None, typer.Option("--min-duration", min=1, help="Shortest clip, seconds.")]
MaxDuration = Annotated[float | None, typer.Option("--max-duration", min=1, help="Longest clip, seconds.")]
AspectOpt = Annotated[AspectChoice | None, typer.Option("--aspect", help="Output aspect (default 9:16).")]
PriorityOpt = Annotated[PriorityChoice, typer.Option("--priority", help="Queue priority.")]
KeywordOpt = Annotated[list[str] | None, typer.Option(
    "--keyword", help="Steer clips toward a subject, by meaning as well as by word (repeatable).")]
StartOpt = Annotated[float | None, typer.Option("--start", min=0, help="Clip only after this time, seconds.")]
EndOpt = Annotated[float | None, typer.Option("--end", min=0, help="Clip only before this time, seconds.")]
CaptionStyleOpt = Annotated[CaptionStyleChoice | None, typer.Option(
    "--caption-style", help="Caption preset (default: the settings' caption_style).")]
NoCaptionsOpt = Annotated[bool, typer.Option(
    "--no-captions", help="Burn in no captions (subtitle files are still written).")]
LiveOpt = Annotated[bool, typer.Option(
    "--live", help="Each input is a live HLS playlist (.m3u8, a path or an allowed URL) followed while it grows: "
    "clips come out while the stream plays, and the job ends at the playlist's end or when the source stalls.")]


class LocalWorker:
    """A ``streamapp worker`` child process for ``process`` on the embedded broker."""

    def __init__(self, settings: Settings, broker_url: str, log_path: Path) -> None:
        from streamapp.processes import die_with_parent
        from streamapp.transport.embedded import free_port

        self.log_path = log_path
        # Short group timings let a fresh worker join within ~2 s on the embedded broker; real Kafka
        # refuses session timeouts under 6 s, so these apply only here and only where not set.
        fast_join = {"STREAMAPP_SESSION_TIMEOUT_S": "3", "STREAMAPP_HEARTBEAT_INTERVAL_S": "0.5",
                     "STREAMAPP_REBALANCE_TIMEOUT_S": "3"}
        env = {**fast_join, **os.environ, "STREAMAPP_BROKER": broker_url, "STREAMAPP_WEB_PORT": str(free_port()),
               "STREAMAPP_DATA_DIR": str(settings.data_dir)}
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the worker
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamapp", "worker"], env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the worker in order
            preexec_fn=die_with_parent,  # a SIGKILLed `process` still takes its worker with it
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_s: float = 15.0) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class ProgressView:
    """Per-job, per-stage progress bars."""

    def __init__(self, progress: Progress, outcomes: dict[str, JobOutcome], names: dict[str, str],
                 live: bool = False) -> None:
        self.progress = progress
        self.names = names
        self.live = live
        self.tasks: dict[tuple[str, str], TaskID] = {}
        for job_id in outcomes:
            for stage in STAGES:
                self.tasks[(job_id, stage)] = progress.add_task(f"{names[job_id]} · {stage}", total=1.0)

    def on_change(self, outcome: JobOutcome, event: dict[str, Any]) -> None:
        if event["type"] == "clip_ready" and self.live:  # a live job's clips come while the stream plays
            clip = event["clip"]
            self.progress.console.print(
                f"{self.names[outcome.job_id]} · clip {clip['id']} ready: {clip['start_s']:.1f}-{clip['end_s']:.1f} s "
                f"of the stream, score {clip['score']:.0f}: {clip['file']}", highlight=False)
        if event["type"] == "job_status" and event["stage"] in STAGES:
            stage_index = STAGES.index(event["stage"])
            for earlier in STAGES[:stage_index]:
                self.progress.update(self.tasks[(outcome.job_id, earlier)], completed=1.0)
            self.progress.update(self.tasks[(outcome.job_id, event["stage"])], completed=event["progress"])
        elif event["type"] == "job_done":
            for stage in STAGES:
                self.progress.update(self.tasks[(outcome.job_id, stage)], completed=1.0)
        elif event["type"] == "job_failed":
            for stage in STAGES:
                task = self.tasks[(outcome.job_id, stage)]
                self.progress.update(task, description=f"[red]{self.progress.tasks[task].description} ✗")


async def _run_jobs(bootstrap: str, topics: Topics, jobs: list[dict[str, Any]], view_factory: Any,
                    worker: LocalWorker | None, timeout_s: float | None) -> tuple[dict[str, JobOutcome], float | None]:
    # Inside the event loop a SIGTERM cancels this task, as asyncio.run does for Ctrl-C, rather than raise
    # KeyboardInterrupt at whatever Python code runs (in a finaliser, __del__, that exception is swallowed).
    loop, me = asyncio.get_running_loop(), asyncio.current_task()
    terminated: list[bool] = []
    loop.add_signal_handler(signal.SIGTERM, lambda: (terminated.append(True), me and me.cancel()))
    try:
        return await _follow_jobs(bootstrap, topics, jobs, view_factory, worker, timeout_s)
    except asyncio.CancelledError:
        if terminated:
            raise KeyboardInterrupt from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)  # it restores SIG_DFL: put ours back for the cleanup
        signal.signal(signal.SIGTERM, _interrupt_on_sigterm)


async def _follow_jobs(bootstrap: str, topics: Topics, jobs: list[dict[str, Any]], view_factory: Any,
                       worker: LocalWorker | None, timeout_s: float | None) -> tuple[dict[str, JobOutcome],
                                                                                     float | None]:
    from streamapp.client import Follower, JobOutcome, Submitter

    outcomes = {job["job_id"]: JobOutcome(job["job_id"]) for job in jobs}
    started = time.monotonic()
    first_work: list[float] = []
    view = view_factory(outcomes)

    def on_change(outcome: JobOutcome, event: dict[str, Any]) -> None:
        if not first_work and event["type"] == "job_status" and event["stage"] == "extract":
            first_work.append(time.monotonic() - started)
        view.on_change(outcome, event)

    async with Follower(bootstrap, topics) as follower, Submitter(bootstrap, topics) as submitter:
        for job in jobs:
            await submitter.submit(job)
        follow = asyncio.create_task(follower.follow(outcomes, on_change))
        deadline = None if not timeout_s else time.monotonic() + timeout_s
        while not follow.done():
            await asyncio.wait({follow}, timeout=0.5)
            if worker is not None and not worker.alive():
                follow.cancel()
                die(f"the worker stopped unexpectedly; see {worker.log_path}", EXIT_INFRA)
            if deadline and time.monotonic() > deadline:
                follow.cancel()
                die(f"jobs did not finish within {timeout_s:.0f} s", EXIT_TIMEOUT)
        follow.result()
    return outcomes, (first_work[0] if first_work else None)


@app.command()
def process(
    videos: Annotated[list[Path], typer.Argument(help="Video files; each becomes one job.")],
    out: Annotated[Path, typer.Option("--out", help="Clips go to OUT/<job_id>/.")] = Path("clips"),
    max_clips: MaxClips = None,
    min_duration: MinDuration = None,
    max_duration: MaxDuration = None,
    aspect: AspectOpt = None,
    priority: PriorityOpt = PriorityChoice.normal,
    keywords: KeywordOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    caption_style: CaptionStyleOpt = None,
    no_captions: NoCaptionsOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list: manifest or error per job.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Give up after this many seconds (0: never).")] = 0,
    live: LiveOpt = False,
) -> None:
    """Turn each VIDEO into clips through Kafka and wait for them (embedded broker unless one is set)."""
    from aiokafka.errors import KafkaError
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from streamapp.client import submission
    from streamapp.transport.admin import ensure_topics
    from streamapp.transport.embedded import EmbeddedBroker

    quiet_client_logs()
    settings = load_settings()
    options = clip_options(settings, max_clips, min_duration, max_duration, aspect, keywords, start=start, end=end,
                           caption_style=caption_style, captions=not no_captions)
    if out.exists() and not out.is_dir():
        die(f"--out {out} is a file; clips go into a folder", EXIT_USAGE)
    # A live playlist may not exist yet (the stream has not started): the worker waits for it up to its idle timeout.
    refused = [] if live else [(video, problem) for video in videos if (problem := local_input_problem(video))]
    for video, (code, message) in refused:  # the worker's codes, at once rather than after the queue
        console.print(f"[red]error:[/red] {video.name}: {code}: {message}", highlight=False)
    videos = [video for video in videos if video not in {v for v, _ in refused}]
    if not videos:
        raise typer.Exit(EXIT_JOB_FAILED)
    jobs = [submission(video, out, priority=priority.value, options=options, live=live) for video in videos]
    names = {job["job_id"]: Path(job["request"]["path"]).name for job in jobs}
    topics = settings.topics
    embedded: EmbeddedBroker | None = None
    worker: LocalWorker | None = None
    started = time.monotonic()
    interrupted = False
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)  # `timeout N streamapp process` stops like Ctrl-C
    try:
        if settings.broker:
            bootstrap = settings.bootstrap_servers
        else:
            log_dir = settings.data_dir / "logs"
            log_dir.mkdir(parents=True, exist_ok=True)
            embedded = EmbeddedBroker(log_path=log_dir / "broker.log").start()
            bootstrap = embedded.url.removeprefix("kafka://")
            asyncio.run(ensure_topics(bootstrap, topics.specs()))
            worker = LocalWorker(settings, embedded.url, log_dir / f"worker-{os.getpid()}.log")
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      TimeElapsedColumn(), console=console, transient=as_json,
                      disable=as_json or not console.is_terminal) as progress:
            outcomes, first_work_s = asyncio.run(_run_jobs(
                bootstrap, topics, jobs, lambda o: ProgressView(progress, o, names, live), worker, timeout or None))
    except StreamappError as exc:
        die(exc.message, EXIT_INFRA)
        raise
    except (KafkaError, OSError) as exc:  # the broker is away or refused us: one line, no traceback
        die(f"broker trouble: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", EXIT_INFRA)
        raise
    except KeyboardInterrupt:
        interrupted = True
        console.print("interrupted: stopping the worker and the broker, removing unfinished files", highlight=False)
    finally:
        if worker:
            worker.stop(grace_s=STOP_GRACE_S if interrupted else 15.0)
        if embedded:
            embedded.stop()
        if interrupted or worker:
            for job_id in names:
                remove_temp_files(out / job_id)
    if interrupted:
        die("interrupted; no job finished was lost, unfinished clips were removed", EXIT_INTERRUPTED)
    _report(outcomes, names, out, as_json, first_work_s, time.monotonic() - started)
    if refused:
        raise typer.Exit(EXIT_JOB_FAILED)


def _report(outcomes: dict[str, JobOutcome], names: dict[str, str], out: Path, as_json: bool,
            first_work_s: float | None, total_s: float) -> None:
    failed = [o for o in outcomes.values() if o.state != "done"]
    if as_json:
        docs = [o.manifest if o.state == "done" else {"job_id": o.job_id, "path": names[o.job_id], "error": o.error}
                for o in outcomes.values()]
        # One shape however many files: a list with one result per job, in the order given.
        sys.stdout.write(orjson.dumps(docs, option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        table = Table(title=f"streamapp: {len(outcomes)} job(s) in {total_s:.1f} s")
        for column in ("file", "job", "outcome", "clips"):
            table.add_column(column)
        for job_id, outcome in outcomes.items():
            if outcome.state == "done":
                table.add_row(names[job_id], job_id, "[green]done",
                              f"{len(outcome.manifest['clips'])} in {out / job_id}")  # type: ignore[index]
            else:
                error = outcome.error or {"code": "unknown", "message": "no outcome"}
                table.add_row(names[job_id], job_id, f"[red]failed: {error['code']}", error["message"])
        # Off a terminal (a pipe, a log) rich would wrap at 80 columns; the table keeps its natural width.
        stdout_console().print(table)
        if first_work_s is not None:
            console.print(f"[dim]first job started extracting {first_work_s:.1f} s after submission[/dim]")
    for outcome in failed:
        error = outcome.error or {"code": "unknown", "message": "no outcome"}
        console.print(f"[red]error:[/red] {names[outcome.job_id]}: {error['code']}: {error['message']}",
                      highlight=False)
    if failed:
        raise typer.Exit(EXIT_JOB_FAILED)


@app.command()
def analyze(
    video: Annotated[Path, typer.Argument(help="A video file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the analysis as JSON on stdout.")] = False,
    no_asr: Annotated[bool, typer.Option("--no-asr", help="Skip speech recognition.")] = False,
    max_clips: MaxClips = None,
    min_duration: MinDuration = None,
    max_duration: MaxDuration = None,
    keywords: Annotated[list[str] | None, typer.Option("--keyword", help="Steering keyword (repeatable).")] = None,
    start: StartOpt = None,
    end: EndOpt = None,
) -> None:
    """Analyse one video (shots, silences, words, scored candidates) without rendering; no broker needed."""
    with loading():
        from streamapp.stages.analyze import analyze_video

    settings = load_settings()
    options = clip_options(settings, max_clips, min_duration, max_duration, None, start=start, end=end)
    if keywords:
        options["keywords"] = keywords
    try:
        report = analyze_video(str(video), settings, use_asr=not no_asr, options=options)
    except StreamappError as exc:
        die(f"{video}: {exc.code}: {exc.message}", EXIT_JOB_FAILED)
        raise
    if as_json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")
        return
    table = Table(title=f"{video.name}: {report['duration_s']:.1f} s, {len(report['cuts_s'])} cuts, "
                        f"{len(report['silences'])} silences, {len(report['words'])} words")
    for column in ("start", "end", "score", "reason"):
        table.add_column(column)
    for candidate in report["candidates"]:
        table.add_row(f"{candidate['start_s']:.2f}", f"{candidate['end_s']:.2f}", f"{candidate['score']:.1f}",
                      candidate["reason"])
    stdout_console().print(table)


@app.command()
def shots(
    video: Annotated[Path, typer.Argument(help="A video file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the shots as JSON on stdout.")] = False,
) -> None:
    """List the shots of one video (hard cuts and gradual transitions), as clips snap to them; no broker needed."""
    with loading():
        from streamapp.stages.analyze import analysis_params
        from streamapp.stages.shots import detect_shots

    settings = load_settings()
    try:
        found = detect_shots(video, analysis_params(settings))
    except StreamappError as exc:
        die(f"{video}: {exc.code}: {exc.message}", EXIT_JOB_FAILED)
        raise
    if as_json:
        sys.stdout.write(orjson.dumps(found.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    table = Table(title=f"{video.name}: {found.duration_s:.1f} s, {len(found.shots)} shots")
    for column in ("shot", "start", "end", "length", "begins with"):
        table.add_column(column)
    for number, shot in enumerate(found.shots, 1):
        table.add_row(str(number), f"{shot.start_s:.3f}", f"{shot.end_s:.3f}", f"{shot.end_s - shot.start_s:.3f}",
                      shot.begins_with)
    stdout_console().print(table)


def serve(run: Callable[[Settings], None]) -> None:
    """Run a long-lived process against the configured broker; its refusals end in one line."""
    settings = load_settings()
    require_broker(settings)
    try:
        run(settings)
    except StreamappError as exc:
        die(exc.message, EXIT_USAGE if exc.permanent else EXIT_INFRA)


@app.command()
def worker() -> None:
    """Run a Faust worker: the extract, score and export agents and the web server (/metrics, /jobs)."""
    from streamapp.app.worker import run_worker

    serve(run_worker)


@app.command()
def api() -> None:
    """Serve the HTTP API and web page on their own (reads job state from Kafka; no processing)."""
    import logging

    from streamapp.app.api_server import run_api

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(run_api)


@app.command()
def submit(
    videos: Annotated[list[Path], typer.Argument(help="Video paths, as the workers see them.")],
    out: Annotated[Path | None, typer.Option("--out", help="Clips folder (default: settings' data dir).")] = None,
    max_clips: MaxClips = None,
    min_duration: MinDuration = None,
    max_duration: MaxDuration = None,
    aspect: AspectOpt = None,
    priority: PriorityOpt = PriorityChoice.normal,
    keywords: KeywordOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    caption_style: CaptionStyleOpt = None,
    no_captions: NoCaptionsOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print [{job_id, path}] as JSON.")] = False,
    live: LiveOpt = False,
) -> None:
    """Publish jobs to a running cluster and print their ids; does not wait."""
    from streamapp.client import Submitter, submission

    quiet_client_logs()
    settings = load_settings()
    bootstrap = require_broker(settings)
    options = clip_options(settings, max_clips, min_duration, max_duration, aspect, keywords, start=start, end=end,
                           caption_style=caption_style, captions=not no_captions)
    jobs = [submission(v, out or settings.clips_dir, priority=priority.value, options=options, live=live)
            for v in videos]

    async def publish() -> None:
        async with Submitter(bootstrap, settings.topics) as submitter:
            for job in jobs:
                await submitter.submit(job)

    try:
        asyncio.run(publish())
    except Exception as exc:  # broker trouble: one line, no traceback
        die(f"could not publish to {bootstrap}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            EXIT_INFRA)
    if as_json:
        typer.echo(orjson.dumps([{"job_id": j["job_id"], "path": j["request"]["path"]} for j in jobs]).decode())
        return
    for job in jobs:
        typer.echo(f"{job['job_id']}\t{job['request']['path']}")


@app.command()
def status(
    job_id: Annotated[str, typer.Argument(help="The job id printed by submit.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a job's state: from a worker's API, or else folded from the job's partition of the job-status log.

    A worker's answer can lag behind the log; when it says the job is still running, the log is read too and
    the job's end there (done, failed) wins.
    """
    from aiokafka.errors import KafkaError

    from streamapp.app.jobs import TERMINAL, public_job
    from streamapp.client import read_job_record

    quiet_client_logs()
    if not JOB_ID.fullmatch(job_id):
        die(f"no job {job_id!r}: job ids are letters, digits, - and _ (as submit prints them)", EXIT_JOB_FAILED)
    settings = load_settings()
    job = None
    with contextlib.suppress(OSError, ValueError):
        host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "::", "") else settings.web_host
        url = f"http://{host}:{settings.web_port}/api/jobs/{job_id}"
        headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=3) as response:  # noqa: S310
            job = orjson.loads(response.read())
    if job is None or job.get("state") not in TERMINAL:
        bootstrap = require_broker(settings)
        try:
            record = asyncio.run(read_job_record(bootstrap, settings.topics, job_id))
            logged = None if record is None else public_job(record)
        except (KafkaError, OSError, StreamappError) as exc:
            if job is None:
                die(f"broker trouble: {exc}".splitlines()[0], EXIT_INFRA)
            logged = None
        if logged is not None and (job is None or logged.get("state") in TERMINAL):
            job = logged
    if job is None:
        die(f"no job {job_id}", EXIT_JOB_FAILED)
    if as_json:
        typer.echo(orjson.dumps(job).decode())
        return
    error = job.get("error")
    line = f"{job_id}: {job['state']} ({job['stage']} {job['progress']:.0%})"
    typer.echo(line + (f" - {error['code']}: {error['message']}" if error else ""))


@app.command()
def cancel(
    job_ids: Annotated[list[str], typer.Argument(help="Job ids, as submit printed them.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Shown in the job's error message.")] = None,
    wait_s: Annotated[float, typer.Option("--wait", min=0.0, help="Seconds to wait for the jobs to stop "
                                          "(0: only ask).")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print {job_id: answer} as JSON.")] = False,
) -> None:
    """Stop jobs: each job's worker stops its stage, removes the job's files and ends it as failed, code
    "cancelled". A job that ends first keeps its end. Exit 0 when every job has stopped or had ended."""
    from streamapp.client import cancel_jobs

    if reason is not None and len(reason) > 200:
        die("--reason is at most 200 characters", EXIT_USAGE)
    _ask_jobs_to_end(job_ids, lambda bootstrap, topics: cancel_jobs(bootstrap, topics, job_ids, reason, wait_s),
                     CANCEL_ANSWERS, wait_s, as_json)


def _ask_jobs_to_end(job_ids: list[str], ask: Callable[[str, Topics], Awaitable[dict[str, str]]],
                     wording: dict[str, str], wait_s: float, as_json: bool) -> None:
    """cancel's and stop's common part: check the ids, ask, print each job's answer, exit by the answers."""
    from aiokafka.errors import KafkaError

    quiet_client_logs()
    bad = [j for j in job_ids if not JOB_ID.fullmatch(j)]
    if bad:
        die(f"no job {bad[0]!r}: job ids are letters, digits, - and _ (as submit prints them)", EXIT_JOB_FAILED)
    settings = load_settings()
    bootstrap = require_broker(settings)
    try:
        answers = asyncio.run(ask(bootstrap, settings.topics))
    except (KafkaError, OSError, StreamappError) as exc:
        die(f"broker trouble: {exc}".splitlines()[0], EXIT_INFRA)
    if as_json:
        typer.echo(orjson.dumps(answers).decode())
    else:
        for job_id, answer in answers.items():
            typer.echo(f"{job_id}: {wording.get(answer, answer)}")
    if any(answer == "unknown" for answer in answers.values()):
        raise typer.Exit(EXIT_JOB_FAILED)
    if wait_s > 0 and any(answer == "requested" for answer in answers.values()):
        raise typer.Exit(EXIT_TIMEOUT)


CANCEL_ANSWERS = {"unknown": "no such job", "cancelled": "cancelled", "done": "finished before the cancel took effect",
                  "requested": "cancel requested"}


@app.command()
def stop(
    job_ids: Annotated[list[str], typer.Argument(help="Live job ids, as submit or process printed them.")],
    wait_s: Annotated[float, typer.Option("--wait", min=0.0, help="Seconds to wait for the jobs to end "
                                          "(0: only ask).")] = 120.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print {job_id: answer} as JSON.")] = False,
) -> None:
    """End live jobs now: each stops following its stream, makes the clips still open and ends as done (its
    manifest says "stopped"). A job that is not live is left as it is. Exit 0 when every job has ended."""
    from streamapp.client import stop_jobs

    _ask_jobs_to_end(job_ids, lambda bootstrap, topics: stop_jobs(bootstrap, topics, job_ids, wait_s),
                     STOP_ANSWERS, wait_s, as_json)


STOP_ANSWERS = {"unknown": "no such job", "done": "ended with its clips", "requested": "stop requested"}


@app.command()
def edit(
    job_id: Annotated[str, typer.Argument(help="A done job's id.")],
    clip_id: Annotated[str, typer.Argument(help="The clip's id in the job's manifest (e.g. JOB-01).")],
    start_s: Annotated[float | None, typer.Option("--start", help="New start in the source, seconds.")] = None,
    end_s: Annotated[float | None, typer.Option("--end", help="New end in the source, seconds.")] = None,
    aspect: Annotated[AspectChoice | None, typer.Option("--aspect", help="New aspect ratio.")] = None,
    layout: Annotated[LayoutChoice | None, typer.Option(
        "--layout", help="auto (per shot), crop (follow the speaker), fit (the whole frame).")] = None,
    fixes: Annotated[list[str] | None, typer.Option(
        "--fix", help="A caption word as it should read: TIME=TEXT, TIME being the word's start in the source "
        "(as the page's editor and GET /api/jobs/JOB/clips/CLIP/words show it); empty TEXT removes the word. "
        "Repeatable.")] = None,
    wait_s: Annotated[float, typer.Option("--wait", min=0.0, help="Seconds to wait for the new version "
                                          "(0: only ask).")] = 300.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the edit as the job's record shows it.")] = False,
) -> None:
    """Change a done job's clip and render it again: the job's worker writes the new version beside the old one
    and points the manifest at it. Exit 0 once it is rendered (or asked, with --wait 0)."""
    from aiokafka.errors import KafkaError

    from streamapp.client import edit_clip
    from streamapp.stages.export import check_changes  # here, not above: it loads the analysis kernels

    quiet_client_logs()
    if not JOB_ID.fullmatch(job_id):
        die(f"no job {job_id!r}: job ids are letters, digits, - and _ (as submit prints them)", EXIT_JOB_FAILED)
    if not CLIP_ID.fullmatch(clip_id):
        die(f"no clip {clip_id!r}: clip ids are letters, digits, - and _ (as the manifest has them)", EXIT_USAGE)
    changes: dict[str, Any] = {k: v for k, v in (("start_s", start_s), ("end_s", end_s)) if v is not None}
    if aspect is not None:
        changes["aspect"] = aspect.value
    if layout is not None:
        changes["layout"] = layout.value
    try:
        if fixes:
            changes["caption_fixes"] = [_caption_fix(text) for text in fixes]
        changes = check_changes(changes)
    except InputError as exc:
        die(exc.message, EXIT_USAGE)
    settings = load_settings()
    bootstrap = require_broker(settings)
    try:
        answer = asyncio.run(edit_clip(bootstrap, settings.topics, job_id, clip_id, changes, wait_s))
    except (KafkaError, OSError, StreamappError) as exc:
        die(f"broker trouble: {exc}".splitlines()[0], EXIT_INFRA)
    if as_json:
        typer.echo(orjson.dumps(answer).decode())
    elif answer["state"] == "done":
        typer.echo(f"{clip_id}: version {answer['version']}, {answer['file']}")
    elif answer["state"] == "failed":
        typer.echo(f"{clip_id}: {answer['error']['code']}: {answer['error']['message']}")
    elif answer["state"] == "pending":
        typer.echo(f"{clip_id}: edit {answer['edit_id']} requested")
    if answer["state"] == "unknown":
        die(f"no job {job_id}", EXIT_JOB_FAILED)
    if answer["state"] == "not_done":
        die(f"job {job_id} is {answer['job_state']}; only a done job's clips can be edited", EXIT_JOB_FAILED)
    if answer["state"] == "failed":
        raise typer.Exit(EXIT_JOB_FAILED)
    if answer["state"] == "pending" and wait_s > 0:
        raise typer.Exit(EXIT_TIMEOUT)


def _caption_fix(text: str) -> dict[str, Any]:
    """--fix TIME=TEXT as a caption fix."""
    at, sep, word = text.partition("=")
    try:
        if sep:
            return {"start_s": float(at), "text": word}
    except ValueError:
        pass
    raise InputError(f"--fix takes TIME=TEXT (the word's start in seconds, then the word), not {text!r}",
                     code="edit_invalid")


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic streamapp uses (safe to run again)."""
    from streamapp.transport.admin import ensure_topics, partition_counts

    quiet_client_logs()
    settings = load_settings()
    bootstrap = require_broker(settings)
    specs = settings.topics.specs()

    async def create_and_describe() -> tuple[list[str], dict[str, int]]:
        created = await ensure_topics(bootstrap, specs, replication=settings.topic_replication)
        return created, await partition_counts(bootstrap, [spec.name for spec in specs])

    try:
        created, counts = asyncio.run(create_and_describe())
    except StreamappError as exc:
        die(exc.message, EXIT_INFRA)
        raise
    for spec in specs:
        note = "created" if spec.name in created else "existed"
        if counts[spec.name] < spec.partitions:
            # Kafka never shrinks a topic and streamapp never grows one: raising it is the operator's call.
            note += f"; settings ask {spec.partitions} partitions (kafka-topics.sh --alter --partitions)"
        typer.echo(f"{spec.name}\t{counts[spec.name]} partitions\t{note}")
    typer.echo(f"created {len(created)} topic(s), {len(specs) - len(created)} existed")


def _interrupt_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


@app.command()
def broker(port: Annotated[int, typer.Option("--port")] = 9092) -> None:
    """Run the embedded broker (memory only, one machine) in the foreground until Ctrl-C."""
    from streamapp.transport.admin import ensure_topics
    from streamapp.transport.embedded import EmbeddedBroker, wait_for_port

    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so `finally` stops the broker, as Ctrl-C does
    embedded = EmbeddedBroker(port=port)
    try:
        try:
            embedded.start()
        except StreamappError as exc:
            die(exc.message, EXIT_INFRA)
        settings = load_settings()
        asyncio.run(ensure_topics(embedded.url.removeprefix("kafka://"),
                                  settings.topics.specs()))
        typer.echo(f"embedded broker at {embedded.url}; export STREAMAPP_BROKER={embedded.url}")
        while wait_for_port(embedded.host, embedded.port, 1.0):
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        embedded.stop()


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        typer.echo(f"streamapp {version('streamapp')}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True,
                                                      help="Print the version and exit.")] = None,
) -> None:
    """Turn long videos into scored short clips."""


def main() -> None:
    app()
