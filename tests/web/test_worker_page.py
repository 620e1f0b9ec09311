"""End to end in headless Chromium: the page served by a real worker, a job submitted through the page's
form, processed through the real broker and Redis, then its clips played and its score plot drawn."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import WorkerProcess, wait_until
from tests.videos import make_test_video
from tests.web.test_page import page  # noqa: F401  (the Chromium page fixture)

pytestmark = pytest.mark.integration

try:
    from playwright.sync_api import Page, expect
except ImportError:
    Page = object  # type: ignore[misc,assignment]


def api(worker: WorkerProcess, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}{path}", timeout=10) as response:
        return json.loads(response.read())


def job_state(worker: WorkerProcess, job_id: str) -> str | None:
    try:
        return api(worker, f"/api/jobs/{job_id}")["state"]
    except urllib.error.HTTPError as exc:  # 404 until the job log reaches the table
        assert exc.code == 404
        return None


def test_page_submits_follows_and_plays_a_real_job(worker: WorkerProcess, page: Page,  # noqa: F811
                                                   tmp_path: Path) -> None:
    video = tmp_path / "talk.mp4"
    make_test_video(video, duration_s=24.0, cuts_s=(6.0, 15.0), silences=((10.0, 10.6),), burst=(16.0, 19.0),
                    seed=11)
    page.goto(f"http://127.0.0.1:{worker.web_port}/")
    page.fill("#submit-form [name=path]", str(video))
    page.click("#submit-form button[type=submit]")
    expect(page.locator("#submit-result")).to_contain_text("Queued job")
    job_id = page.locator("#submit-result").inner_text().split("Queued job")[1].split()[0].strip(" .:")
    assert wait_until(lambda: job_state(worker, job_id) in ("done", "failed"), 180)
    assert job_state(worker, job_id) == "done"

    page.click(f'tr[data-job-id="{job_id}"]')
    video_element = page.locator("#clips article.clip video").first
    expect(video_element).to_be_visible()
    assert f"/api/jobs/{job_id}/files/clip-01.mp4" in (video_element.get_attribute("src") or "")
    page.wait_for_function("document.querySelector('#clips video').readyState >= 1", timeout=15000)
    manifest = api(worker, f"/api/jobs/{job_id}/manifest")
    expected = manifest["clips"][0]["end_s"] - manifest["clips"][0]["start_s"]
    assert page.evaluate("document.querySelector('#clips video').duration") == pytest.approx(expected, abs=0.2)
    expect(page.locator("#clips article.clip")).to_have_count(len(manifest["clips"]))
    expect(page.locator("#plot svg.score-plot rect.clip-span")).to_have_count(len(manifest["clips"]))
    assert page.locator("#plot svg.score-plot polyline.line").count() == 1
    page.screenshot(path=str(tmp_path / "worker-page.png"), full_page=True)
