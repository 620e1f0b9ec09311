"""The web page in a real headless Chromium, against create_api over an in-memory JobService.

Needs the ``playwright`` Python package and a Chromium binary (Debian: ``apt-get install chromium``;
another binary: STREAMAPP_CHROMIUM=/path). It fails, never skips, when either is missing.
Screenshots go to STREAMAPP_SCREENSHOT_DIR when set, else to the test's tmp folder.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest
from aiohttp import web

from streamapp.api import create_api
from tests.api.memory_service import MemoryJobService, manifest_for
from tests.videos import make_test_video

CHROMIUM = os.environ.get("STREAMAPP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "page-test-token"
DURATION_S = 60.0
CLIPS = [(6.0, 21.0, 88.4), (33.5, 50.0, 71.2)]

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # fail with a clear message in the test, not a collection error
    sync_playwright = None  # type: ignore[assignment]


class ServerThread:
    """create_api served by web.AppRunner on a free loopback port, on an event loop of its own thread."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="api-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = self.runner.addresses[0][1]
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(10), "the API server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _clip_files(folder: Path, source: Path) -> None:
    for index in range(len(CLIPS)):
        stem = folder / f"clip-{index + 1:02d}"
        shutil.copyfile(source, stem.with_suffix(".mp4"))
        thumb = np.full((320, 180, 3), (60 + 80 * index, 90, 200), np.uint8)
        cv2.imwrite(str(stem.with_suffix(".jpg")), thumb)
        stem.with_suffix(".vtt").write_text("WEBVTT\n\n00:00.000 --> 00:03.000\nthe best part starts here\n")
        stem.with_suffix(".srt").write_text("1\n00:00:00,000 --> 00:00:03,000\nthe best part starts here\n")


@pytest.fixture
def service(tmp_path: Path) -> MemoryJobService:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "keynote.mp4").write_bytes(b"x")
    svc = MemoryJobService(tmp_path / "data", input_root=inputs)
    clip = make_test_video(tmp_path / "clip.mp4", duration_s=3.0, size=(180, 320), cuts_s=(1.5,), silences=(),
                           burst=None)
    svc.add_job("queued1", "queued", path="/data/inputs/lecture-part-2.mp4")
    svc.add_job("failed1", "failed", 0.1, path="/data/inputs/broken.mov",
                error={"code": "input_invalid", "message": "no video stream in broken.mov"})
    svc.add_job("done1", "done", 1.0, path="/data/inputs/podcast-episode-42.mp4")
    svc.manifests["done1"] = manifest_for("done1", CLIPS, duration_s=DURATION_S)
    _clip_files(svc.clip_dir("done1"), Path(clip["path"]))
    t_s = [i * 0.25 for i in range(int(DURATION_S / 0.25) + 1)]
    score = [max(0.0, 40 + 30 * math.sin(t / 5.0) + 25 * math.exp(-((t - 14) ** 2) / 20)
                 + 20 * math.exp(-((t - 42) ** 2) / 30)) for t in t_s]
    svc.series["done1"] = {"t_s": t_s, "score": score}
    svc.add_job("run1", "scoring", 0.4, path="/data/inputs/interview.mp4")
    return svc


@pytest.fixture
def server(service: MemoryJobService) -> Iterator[ServerThread]:
    with ServerThread(create_api(service, token=TOKEN)) as running:
        yield running


@pytest.fixture
def page() -> Iterator[Page]:
    if sync_playwright is None:
        pytest.fail("the playwright Python package is missing: pip install playwright")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set STREAMAPP_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            yield context.new_page()
        finally:
            browser.close()


def _screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("STREAMAPP_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_page_shows_jobs_clips_and_plot(page: Page, server: ServerThread, service: MemoryJobService,
                                        tmp_path: Path) -> None:
    errors: list[str] = []
    failed: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
            and not msg.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: failed.append(f"{r.request.method} {r.url} {r.status}") if r.status >= 400 else None)

    page.goto(f"{server.url}/#token={TOKEN}")
    # the token leaves the address bar and stays in the tab's sessionStorage
    expect(page).to_have_url(f"{server.url}/")
    assert page.evaluate("sessionStorage.getItem('streamapp-token')") == TOKEN

    # a running job's row with its stage bars; progress follows the service within the poll interval
    score_bar = page.locator('tr[data-job-id="run1"] [data-stage="score"] [role="progressbar"]')
    expect(score_bar).to_have_attribute("aria-valuenow", "40")
    expect(page.locator('tr[data-job-id="run1"] [data-stage="extract"] [role="progressbar"]')).to_have_attribute(
        "aria-valuenow", "100")
    service.jobs["run1"]["progress"] = 0.7
    expect(score_bar).to_have_attribute("aria-valuenow", "70", timeout=5000)
    expect(page.locator('tr[data-job-id="failed1"]')).to_contain_text("no video stream in broken.mov")
    expect(page.locator("#jobs-body tr.job")).to_have_count(4)

    # submit by path
    page.fill("#submit-path", str(tmp_path / "inputs" / "keynote.mp4"))
    page.select_option("#submit-priority", "high")
    page.click("#submit-form button[type=submit]")
    expect(page.locator("#submit-result")).to_contain_text("Queued job")
    expect(page.locator("#jobs-body tr.job")).to_have_count(5, timeout=5000)
    assert service.submitted[-1][2] == "high"
    page.fill("#submit-path", "/etc/passwd")
    page.click("#submit-form button[type=submit]")
    expect(page.locator("#submit-result")).to_contain_text("input_forbidden")

    # open the finished job: clips with video, captions track, score and reason; plot with clip spans
    page.click('tr[data-job-id="done1"]')
    video = page.locator("#clips article.clip video").first
    expect(video).to_be_visible()
    src = urlsplit(video.get_attribute("src") or "")
    assert src.path == "/api/jobs/done1/files/clip-01.mp4"
    assert src.query == f"token={TOKEN}"
    track = page.locator("#clips article.clip video track").first
    assert urlsplit(track.get_attribute("src") or "").path == "/api/jobs/done1/files/clip-01.vtt"
    assert track.get_attribute("default") is None  # captions are burned in: the track starts off
    # the browser really loads the clip (Range requests through the token query)
    page.wait_for_function("document.querySelector('#clips video').readyState >= 1", timeout=10000)
    assert page.evaluate("document.querySelector('#clips video').duration") == pytest.approx(3.0, abs=0.2)
    expect(page.locator("#clips article.clip")).to_have_count(2)
    expect(page.locator("#clips article.clip").first.locator(".score")).to_contain_text("88")
    expect(page.locator("#clips article.clip").first).to_contain_text("loud, fast-moving moment")
    expect(page.locator("#clips article.clip").first.locator(".subscores")).to_contain_text("audio energy")

    spans = page.locator("#plot svg.score-plot rect.clip-span")
    expect(spans).to_have_count(len(CLIPS))
    assert page.locator("#plot svg.score-plot polyline.line").count() == 1
    first = spans.first.bounding_box()
    plot = page.locator("#plot svg.score-plot").bounding_box()
    assert first and plot and plot["x"] < first["x"] < plot["x"] + plot["width"] / 2  # 6 s into 60 s: left half
    page.wait_for_timeout(300)  # let the poster/first frame paint before the picture is taken

    shot = _screenshot(page, tmp_path, "streamapp-page.png")
    assert shot.stat().st_size > 10_000
    expect(page.locator("#detail-cancel")).to_be_hidden()  # a finished job has nothing to cancel

    # cancel a running job from its detail
    page.click('tr[data-job-id="run1"]')
    expect(page.locator("#detail-cancel")).to_be_visible()
    page.click("#detail-cancel")
    expect(page.locator("#detail-status")).to_contain_text("cancelling")
    expect(page.locator("#detail-cancel")).to_be_hidden()
    assert service.cancelled == [("run1", None)]
    assert not errors, errors
    # the one refusal asked for: the forbidden submission
    assert [f.split()[0] + " " + urlsplit(f.split()[1]).path + " " + f.split()[2] for f in failed] == [
        "POST /api/jobs 403"], failed


def test_upload_with_progress_and_a_phone_width_layout(page: Page, server: ServerThread, service: MemoryJobService,
                                                        tmp_path: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": 420, "height": 900})
    page.goto(f"{server.url}/#token={TOKEN}")
    expect(page.locator("#jobs-body tr.job")).to_have_count(4)
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    shot = _screenshot(page, tmp_path, "streamapp-page-phone.png")
    assert shot.stat().st_size > 5_000

    video = tmp_path / "My holiday talk.mp4"
    video.write_bytes(b"\x00" * 300_000)  # the in-memory service only stores it
    page.select_option("#submit-priority", "low")
    page.set_input_files("#upload-file", str(video))
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#upload-result")).to_contain_text("queued job", timeout=10_000)
    assert page.evaluate("document.getElementById('upload-progress').value") == 100
    path, options, priority = service.submitted[-1]
    assert priority == "low" and Path(path).parent == service.upload_dir() and Path(path).stat().st_size == 300_000
    # The job is listed under the name the file had, not the generated one it was saved as.
    expect(page.locator("#jobs-body tr.job").filter(has_text="My holiday talk.mp4")).to_have_count(1, timeout=5_000)
    assert not errors, errors


def test_the_editor_says_why_an_edit_is_refused_and_sends_only_what_changed(page: Page, server: ServerThread,
                                                                            service: MemoryJobService) -> None:
    clip = service.manifests["done1"]["clips"][0]
    service.transcripts["done1"] = [{"start_s": clip["start_s"] + 1.0, "end_s": clip["start_s"] + 1.4, "text": "hi"}]
    page.goto(f"{server.url}/#token={TOKEN}")
    page.click('tr[data-job-id="done1"]')
    card = page.locator(f'article.clip[data-clip-id="{clip["id"]}"]')
    card.locator("button.edit-clip").click()
    editor = card.locator("form.clip-editor")
    expect(editor.locator("button.word")).to_have_count(1)
    # An end before the start: refused by the API, said in the editor, nothing sent to a worker.
    editor.locator("[name=end_s]").fill(f"{clip['start_s'] - 1:.2f}")
    editor.locator("button.render-clip").click()
    expect(editor.locator(".edit-status")).to_contain_text("edit_invalid")
    assert service.edited == []
    # The word's start as its end: the clip ends where the word ends; only the end and the fix are sent.
    editor.locator("button.word").click()
    editor.locator("button.end-here").click()
    editor.locator("[name=word_text]").fill("hello")
    editor.locator("button.fix-word").click()
    editor.locator("button.render-clip").click()
    expect(editor.locator(".edit-status")).to_contain_text("Rendering version 2")
    assert service.edited == [("done1", clip["id"], {"end_s": round(clip["start_s"] + 1.4, 3),
                                                      "caption_fixes": [{"start_s": clip["start_s"] + 1.0,
                                                                         "text": "hello"}]})]


def test_a_live_job_shows_its_stream_its_clips_as_they_come_and_can_be_ended(page: Page, server: ServerThread,
                                                                             service: MemoryJobService) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    service.add_job("live1", "extracting", 0.0, path="/data/streams/live.m3u8",
                    request={"path": "/data/streams/live.m3u8", "options": {}, "priority": "normal",
                             "out_dir": "/clips", "live": True},
                    live={"edge_s": 84.2, "segments": 43, "clips": 1, "lag_s": 2.0})
    service.manifests["live1"] = manifest_for("live1", CLIPS[:1], duration_s=86.0)
    _clip_files(service.clip_dir("live1"), service.clip_dir("done1") / "clip-01.mp4")
    page.goto(f"{server.url}/#token={TOKEN}")
    page.click('tr[data-job-id="live1"]')
    expect(page.locator("#detail-status")).to_contain_text("live · 84 s analysed · 1 clip")
    expect(page.locator("#clips article.clip")).to_have_count(1)
    expect(page.locator("#detail-stop")).to_be_visible()
    # the stream goes on and makes a second clip: it appears without reopening the job
    service.manifests["live1"] = manifest_for("live1", CLIPS, duration_s=126.0)
    service.jobs["live1"]["live"] = {"edge_s": 124.0, "segments": 63, "clips": 2, "lag_s": 1.0}
    expect(page.locator("#clips article.clip")).to_have_count(2, timeout=8000)
    expect(page.locator("#detail-status")).to_contain_text("124 s analysed · 2 clips")
    page.click("#detail-stop")
    expect(page.locator("#detail-status")).to_contain_text("ending")
    expect(page.locator("#detail-stop")).to_be_hidden()
    assert service.jobs["live1"]["stop_requested"] > 0
    page.click('tr[data-job-id="run1"]')  # a file's job has no stream to end
    expect(page.locator("#detail-stop")).to_be_hidden()
    assert not errors, errors
