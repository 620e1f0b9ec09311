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


def post(worker: WorkerProcess, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{worker.web_port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_clip_editor_trims_fixes_a_word_switches_framing_and_renders_the_clip_again(
        worker: WorkerProcess, page: Page, tmp_path: Path) -> None:  # noqa: F811
    from tests.talks import make_talk

    talk = make_talk(tmp_path / "rivers.mp4", size=(320, 180), cuts_s=(9.0,))
    options = {"max_clips": 1, "min_duration_s": 8.0, "max_duration_s": 16.0}
    job_id = post(worker, "/api/jobs", {"path": talk["path"], "options": options})["job_id"]
    assert wait_until(lambda: job_state(worker, job_id) in ("done", "failed"), 240)
    assert job_state(worker, job_id) == "done"
    before = api(worker, f"/api/jobs/{job_id}/manifest")["clips"][0]

    page.goto(f"http://127.0.0.1:{worker.web_port}/")
    page.click(f'tr[data-job-id="{job_id}"]')
    card = page.locator(f'article.clip[data-clip-id="{before["id"]}"]')
    card.locator("button.edit-clip").click()
    editor = card.locator("form.clip-editor")
    expect(editor).to_be_visible()
    words = editor.locator("button.word")
    expect(words.first).to_be_visible(timeout=15000)
    # Trim: start half a second later (nudge), end on a word inside the clip.
    editor.locator('button[data-nudge="start_s:0.5"]').click()
    inside = [w for w in api(worker, f"/api/jobs/{job_id}/clips/{before['id']}/words")["words"]
              if before["start_s"] + 2.0 < w["start_s"] and w["end_s"] < before["end_s"] - 0.5]
    assert len(inside) >= 2, "the talk's words inside the clip"
    last, fixed = inside[-1], inside[0]
    editor.locator(f'button.word[data-start="{last["start_s"]:.3f}"]').click()
    editor.locator("button.end-here").click()
    # Fix a caption word, switch framing and aspect, render.
    editor.locator(f'button.word[data-start="{fixed["start_s"]:.3f}"]').click()
    editor.locator("[name=word_text]").fill("RIVERZ")
    editor.locator("button.fix-word").click()
    editor.locator("[name=layout]").select_option("fit")
    editor.locator("[name=aspect]").select_option("1:1")
    card.screenshot(path=str(tmp_path / "editor-open.png"))
    editor.locator("button.render-clip").click()
    expect(editor.locator(".edit-status")).to_contain_text("Rendering version 2")

    # The page shows the new version once it is rendered; the manifest, files and job record say the same.
    new_card = page.locator(f'article.clip[data-clip-id="{before["id"]}"][data-version="2"]')
    expect(new_card).to_be_visible(timeout=120000)
    expect(new_card.locator("h3")).to_contain_text("v2")
    after = api(worker, f"/api/jobs/{job_id}/manifest")["clips"][0]
    assert after["version"] == 2 and after["file"].endswith("-v2.mp4") and after["file"] != before["file"]
    assert after["start_s"] == pytest.approx(before["start_s"] + 0.5, abs=0.11)  # the first frame at or after it
    assert after["end_s"] == pytest.approx(last["end_s"], abs=0.11)
    assert before["width"] < before["height"] and after["width"] == after["height"] and after["aspect"] == "1:1"
    assert after["layout"] == "fit" and after["layout_choice"] == "fit"
    assert after["caption_fixes"] == [{"start_s": round(fixed["start_s"], 3), "text": "RIVERZ"}]
    assert after["title"] == before["title"] and after["score"] == before["score"]
    vtt = urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/api/jobs/{job_id}/files/{after['captions_vtt']}",
                                 timeout=10).read().decode()
    assert "RIVERZ" in vtt
    with pytest.raises(urllib.error.HTTPError) as gone:  # the old version's files are removed
        urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/api/jobs/{job_id}/files/{before['file']}",
                               timeout=10)
    assert gone.value.code == 404
    page.wait_for_function("document.querySelector('#clips video').readyState >= 1", timeout=15000)
    duration = page.evaluate("document.querySelector('#clips video').duration")
    assert duration == pytest.approx(after["end_s"] - after["start_s"], abs=0.2)
    edits = api(worker, f"/api/jobs/{job_id}")["edits"]
    assert [(e["state"], e["version"], e["file"]) for e in edits] == [("done", 2, after["file"])]
    page.screenshot(path=str(tmp_path / "editor.png"), full_page=True)
