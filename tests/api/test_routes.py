"""The HTTP layer over an in-memory JobService, through aiohttp's real test server and client."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from streamapp.api import create_api, token_required
from streamapp.api.openapi import openapi_document
from tests.api.memory_service import MemoryJobService, manifest_for

TOKEN = "s3cret-token"


@pytest.fixture
def service(tmp_path: Path) -> MemoryJobService:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "talk.mp4").write_bytes(b"not really a video")
    svc = MemoryJobService(tmp_path / "data", input_root=inputs)
    svc.add_job("done1", "done", 1.0)
    svc.manifests["done1"] = manifest_for("done1", [(3.0, 20.0, 88.0), (30.0, 50.0, 61.5)])
    svc.series["done1"] = {"t_s": [0.0, 1.0, 2.0], "score": [10.0, 50.0, 20.0]}
    folder = svc.clip_dir("done1")
    (folder / "clip-01.mp4").write_bytes(bytes(range(256)) * 4)
    (folder / "clip-01.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n")
    (svc.root / "clips" / "secret.txt").write_text("not yours")
    svc.add_job("run1", "scoring", 0.4, request={"path": "/x.mp4", "options": {"max_clips": 2}, "priority": "high",
                                                 "out_dir": "/o"}, candidates=[{"start_s": 0}])
    return svc


Body = Callable[[TestClient], Awaitable[None]]


@contextlib.asynccontextmanager
async def _client(service: MemoryJobService, **kwargs: Any) -> AsyncIterator[TestClient]:
    kwargs.setdefault("token", None)
    async with TestClient(TestServer(create_api(service, **kwargs))) as client:
        yield client


def run(service: MemoryJobService, body: Body, **kwargs: Any) -> None:
    async def main() -> None:
        async with _client(service, **kwargs) as client:
            await body(client)

    asyncio.run(main())


async def _error(response: aiohttp.ClientResponse, status: int, code: str) -> None:
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and "\n" not in body["error"]["message"]


def test_submit_list_get(service: MemoryJobService, tmp_path: Path) -> None:
    async def body(client: TestClient) -> None:
        path = str(tmp_path / "inputs" / "talk.mp4")
        response = await client.post("/api/jobs", json={"path": path, "options": {"max_clips": 3, "aspect": "1:1"},
                                                        "priority": "high"})
        assert response.status == 201, await response.text()
        job = await response.json()
        assert job["state"] == "queued" and job["priority"] == "high"
        assert job["options"] == {"max_clips": 3, "aspect": "1:1"}
        assert service.submitted == [(path, {"max_clips": 3, "aspect": "1:1"}, "high")]

        listed = await (await client.get("/api/jobs")).json()
        assert {j["job_id"] for j in listed["jobs"]} == {job["job_id"], "done1", "run1"}
        assert listed["jobs"][0]["job_id"] == job["job_id"]  # newest first
        for j in listed["jobs"]:  # internals stay inside the worker
            assert "request" not in j and "candidates" not in j

        only_done = await (await client.get("/api/jobs", params={"state": "done"})).json()
        assert [j["job_id"] for j in only_done["jobs"]] == ["done1"]
        assert len((await (await client.get("/api/jobs?limit=1")).json())["jobs"]) == 1
        await _error(await client.get("/api/jobs?state=bogus"), 400, "request_invalid")
        await _error(await client.get("/api/jobs?limit=0"), 400, "request_invalid")
        await _error(await client.get("/api/jobs?limit=x"), 400, "request_invalid")

        got = await (await client.get(f"/api/jobs/{job['job_id']}")).json()
        assert got["job_id"] == job["job_id"] and got["state"] == "queued"
        running = await (await client.get("/api/jobs/run1")).json()
        assert running["options"] == {"max_clips": 2} and running["progress"] == 0.4
        await _error(await client.get("/api/jobs/nope"), 404, "job_unknown")
        await _error(await client.get("/api/jobs/bad%20id!"), 404, "job_unknown")

    run(service, body)


def test_submit_refusals(service: MemoryJobService, tmp_path: Path) -> None:
    good = str(tmp_path / "inputs" / "talk.mp4")

    async def body(client: TestClient) -> None:
        await _error(await client.post("/api/jobs", json={"path": "/etc/passwd"}), 403, "input_forbidden")
        await _error(await client.post("/api/jobs", json={"path": str(tmp_path / "inputs" / "gone.mp4")}), 400,
                     "input_missing")
        await _error(await client.post("/api/jobs", json={"path": ""}), 400, "request_invalid")
        await _error(await client.post("/api/jobs", json=[good]), 400, "request_invalid")
        await _error(await client.post("/api/jobs", json={"path": good, "priority": "urgent"}), 400,
                     "request_invalid")
        response = await client.post("/api/jobs", json={"path": good, "options": {"aspect": "3:2"}})
        await _error(response, 400, "request_invalid")
        response = await client.post("/api/jobs", json={"path": good, "options": {"max_clip": 3}})
        await _error(response, 400, "request_invalid")
        # Rules across fields, and times no video reaches, are refused now rather than crash a stage later.
        for options in ({"min_duration_s": 1127, "max_duration_s": 60}, {"range_start_s": 1e307},
                        {"range_start_s": 30, "range_end_s": 10}):
            await _error(await client.post("/api/jobs", json={"path": good, "options": options}), 400,
                         "request_invalid")
        await _error(await client.post("/api/jobs", data=b"{not json", headers={"Content-Type": "application/json"}),
                     400, "request_invalid")
        assert service.submitted == []

    run(service, body)


def test_batch_gives_one_result_per_item(service: MemoryJobService, tmp_path: Path) -> None:
    good = str(tmp_path / "inputs" / "talk.mp4")

    async def body(client: TestClient) -> None:
        response = await client.post("/api/jobs/batch", json={"jobs": [
            {"path": good}, {"path": "/etc/passwd"}, {"path": good, "priority": "low"}, {"path": "/nowhere.mp4"}]})
        assert response.status == 200
        result = await response.json()
        assert (result["accepted"], result["rejected"]) == (2, 2)
        oks = [r["ok"] for r in result["results"]]
        assert oks == [True, False, True, False]
        # a malformed submission refuses the whole batch, naming it, and submits nothing
        before = len(service.submitted)
        response = await client.post("/api/jobs/batch", json={"jobs": [{"path": good}, {"nope": 1}]})
        await _error(response, 400, "request_invalid")
        assert (await response.json())["error"]["message"].startswith("jobs[1]: ")
        assert len(service.submitted) == before
        assert result["results"][1]["error"]["code"] == "input_forbidden"
        assert result["results"][2]["job"]["priority"] == "low"
        # a bare list works too
        assert (await (await client.post("/api/jobs/batch", json=[{"path": good}])).json())["accepted"] == 1
        await _error(await client.post("/api/jobs/batch", json={"jobs": []}), 400, "request_invalid")
        await _error(await client.post("/api/jobs/batch", json={"jobs": [{"path": good}] * 101}), 413,
                     "batch_too_large")

    run(service, body)


def test_manifest_and_signals(service: MemoryJobService) -> None:
    async def body(client: TestClient) -> None:
        manifest = await (await client.get("/api/jobs/done1/manifest")).json()
        assert [c["file"] for c in manifest["clips"]] == ["clip-01.mp4", "clip-02.mp4"]
        await _error(await client.get("/api/jobs/run1/manifest"), 404, "manifest_unavailable")
        await _error(await client.get("/api/jobs/nope/manifest"), 404, "job_unknown")
        series = await (await client.get("/api/jobs/done1/signals")).json()
        assert series == {"t_s": [0.0, 1.0, 2.0], "score": [10.0, 50.0, 20.0]}
        await _error(await client.get("/api/jobs/run1/signals"), 404, "signals_unavailable")
        await _error(await client.get("/api/jobs/nope/signals"), 404, "job_unknown")

    run(service, body)


def test_an_edit_of_a_done_jobs_clip_is_checked_and_shows_in_the_job_as_pending(service: MemoryJobService) -> None:
    service.transcripts["done1"] = [{"start_s": 2.0, "end_s": 2.4, "text": "hello"},
                                    {"start_s": 4.0, "end_s": 4.3, "text": "rivers"},
                                    {"start_s": 40.0, "end_s": 40.3, "text": "later"}]

    async def body(client: TestClient) -> None:
        changes = {"start_s": 2.0, "layout": "fit", "caption_fixes": [{"start_s": 4.0, "text": "Rivers"}]}
        response = await client.post("/api/jobs/done1/clips/done1-01/edit", json=changes)
        assert response.status == 202
        edit = await response.json()
        assert edit["state"] == "pending" and edit["clip_id"] == "done1-01" and edit["edit_id"]
        job = await (await client.get("/api/jobs/done1")).json()
        assert [e["edit_id"] for e in job["edits"]] == [edit["edit_id"]]
        assert service.edited == [("done1", "done1-01", changes)]
        await _error(await client.post("/api/jobs/done1/clips/done1-01/edit", json={"end_s": 2.5}), 400,
                     "edit_invalid")
        await _error(await client.post("/api/jobs/done1/clips/done1-01/edit", json={"layout": "zoom"}), 400,
                     "edit_invalid")
        await _error(await client.post("/api/jobs/done1/clips/done1-01/edit", json=[1]), 400, "edit_invalid")
        await _error(await client.post("/api/jobs/done1/clips/done1-07/edit", json={}), 404, "clip_unknown")
        await _error(await client.post("/api/jobs/done1/clips/bad!id/edit", json={}), 404, "clip_unknown")
        await _error(await client.post("/api/jobs/run1/clips/run1-01/edit", json={}), 409, "job_not_done")
        await _error(await client.post("/api/jobs/nope/clips/nope-01/edit", json={}), 404, "job_unknown")
        words = await (await client.get("/api/jobs/done1/clips/done1-01/words")).json()
        assert [w["text"] for w in words["words"]] == ["hello", "rivers"] and words["duration_s"] == 60.0
        await _error(await client.get("/api/jobs/run1/clips/run1-01/words"), 404, "words_unavailable")

    run(service, body)


def test_cancel_marks_a_live_job_and_refuses_ended_and_unknown_ones(service: MemoryJobService) -> None:
    async def body(client: TestClient) -> None:
        response = await client.post("/api/jobs/run1/cancel", json={"reason": "wrong file"})
        assert response.status == 202, await response.text()
        job = await response.json()
        assert job["job_id"] == "run1" and job["cancel_requested"] > 0
        assert service.cancelled == [("run1", "wrong file")]
        assert (await client.post("/api/jobs/run1/cancel")).status == 202  # no body: no reason
        await _error(await client.post("/api/jobs/done1/cancel"), 409, "job_ended")
        await _error(await client.post("/api/jobs/nope/cancel"), 404, "job_unknown")
        await _error(await client.post("/api/jobs/run1/cancel", json={"reason": "x" * 201}), 400, "request_invalid")
        assert service.cancelled == [("run1", "wrong file"), ("run1", None)]

    run(service, body)


def test_a_live_submission_and_its_stop(service: MemoryJobService, tmp_path) -> None:
    async def body(client: TestClient) -> None:
        playlist = str(service.input_root / "not-yet.m3u8")  # a stream not started: accepted all the same
        response = await client.post("/api/jobs", json={"path": playlist, "live": True})
        assert response.status == 201, await response.text()
        job = await response.json()
        assert service.jobs[job["job_id"]]["request"]["live"] is True
        await _error(await client.post("/api/jobs", json={"path": playlist}), 400, "input_missing")  # not live
        await _error(await client.post("/api/jobs", json={"path": playlist, "live": "yes"}), 400, "request_invalid")
        response = await client.post(f"/api/jobs/{job['job_id']}/stop")
        assert response.status == 202 and (await response.json())["stop_requested"] > 0
        await _error(await client.post("/api/jobs/run1/stop"), 409, "job_not_live")
        await _error(await client.post("/api/jobs/done1/stop"), 409, "job_ended")
        await _error(await client.post("/api/jobs/nope/stop"), 404, "job_unknown")

    run(service, body)


def test_file_download_supports_range(service: MemoryJobService) -> None:
    content = bytes(range(256)) * 4

    async def body(client: TestClient) -> None:
        response = await client.get("/api/jobs/done1/files/clip-01.mp4")
        assert response.status == 200
        assert response.headers["Content-Type"] == "video/mp4"
        assert response.headers.get("Accept-Ranges") == "bytes"
        assert await response.read() == content

        response = await client.get("/api/jobs/done1/files/clip-01.mp4", headers={"Range": "bytes=100-199"})
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 100-199/{len(content)}"
        assert await response.read() == content[100:200]

        response = await client.get("/api/jobs/done1/files/clip-01.mp4", headers={"Range": "bytes=-10"})
        assert response.status == 206 and await response.read() == content[-10:]

        vtt = await client.get("/api/jobs/done1/files/clip-01.vtt")
        assert vtt.status == 200 and vtt.headers["Content-Type"].startswith("text/vtt")

        download = await client.get("/api/jobs/done1/files/clip-01.mp4?download=1")
        assert "attachment" in download.headers["Content-Disposition"]

        await _error(await client.get("/api/jobs/done1/files/clip-09.mp4"), 404, "file_unknown")
        await _error(await client.get("/api/jobs/nope/files/clip-01.mp4"), 404, "file_unknown")

    run(service, body)


@pytest.mark.parametrize("raw", [
    "/api/jobs/done1/files/..%2Fsecret.txt",
    "/api/jobs/done1/files/%2E%2E%2Fsecret.txt",
    "/api/jobs/done1/files/..",
    "/api/jobs/done1/files/.%2E",
    "/api/jobs/done1/files/..%5Csecret.txt",
    "/api/jobs/done1/files/%2Fetc%2Fpasswd",
    "/api/jobs/done1/files/.hidden",
    "/api/jobs/done1/files/../secret.txt",
    "/api/jobs/done1/files/clip-01.mp4%00.txt",
    "/api/jobs/..%2Fclips/files/secret.txt",
])
def test_traversal_is_refused(service: MemoryJobService, raw: str) -> None:
    async def body(client: TestClient) -> None:
        url = URL(str(client.make_url("/")).rstrip("/") + raw, encoded=True)
        response = await client.session.get(url)
        assert response.status in (400, 404), raw
        assert b"not yours" not in await response.read()

    run(service, body)


def test_token_guards_every_api_route(service: MemoryJobService, tmp_path: Path) -> None:
    async def body(client: TestClient) -> None:
        for method, path in [("GET", "/api/jobs"), ("GET", "/api/jobs/done1"), ("GET", "/api/jobs/done1/manifest"),
                             ("GET", "/api/jobs/done1/signals"), ("GET", "/api/jobs/done1/files/clip-01.mp4"),
                             ("GET", "/api/openapi.json"), ("POST", "/api/jobs"), ("POST", "/api/jobs/batch"),
                             ("POST", "/api/uploads"), ("POST", "/api/jobs/run1/cancel")]:
            response = await client.request(method, path)
            await _error(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            wrong = await client.request(method, path, headers={"Authorization": "Bearer nope"})
            assert wrong.status == 401
        assert (await client.get("/api/jobs", headers={"Authorization": f"Bearer {TOKEN}"})).status == 200
        assert (await client.get("/api/jobs", headers={"Authorization": f"bearer {TOKEN}"})).status == 200
        assert (await client.get(f"/api/jobs/done1/files/clip-01.mp4?token={TOKEN}")).status == 200
        assert (await client.get("/api/jobs?token=wrong")).status == 401
        submitted = await client.post("/api/jobs", json={"path": str(tmp_path / "inputs" / "talk.mp4")},
                                      headers={"Authorization": f"Bearer {TOKEN}"})
        assert submitted.status == 201
        # the page itself carries no data: it loads without the token and asks for it
        assert (await client.get("/")).status == 200
        assert (await client.get("/static/app.js")).status == 200

    run(service, body, token=TOKEN)


def test_upload_streams_to_a_generated_name(service: MemoryJobService) -> None:
    payload = b"\x00\x01video-bytes" * 1000

    async def body(client: TestClient) -> None:
        form = aiohttp.FormData()
        form.add_field("priority", "low")
        form.add_field("options", '{"max_clips": 2}')
        form.add_field("file", payload, filename="../../My Talk.MP4", content_type="video/mp4")
        response = await client.post("/api/uploads", data=form)
        assert response.status == 201, await response.text()
        job = await response.json()
        saved = Path(job["upload"]["path"])
        assert saved.parent == service.upload_dir()
        assert re.fullmatch(r"[0-9a-f]{32}\.mp4", saved.name)
        assert saved.read_bytes() == payload and job["upload"]["bytes"] == len(payload)
        assert "My" in job["upload"]["filename"]  # echoed as the client sent it (aiohttp's client quotes it)
        assert service.submitted[-1] == (str(saved), {"max_clips": 2}, "low")
        assert [p.name for p in service.upload_dir().iterdir()] == [saved.name]  # no leftovers

        # options and priority may come as query parameters, and after the file
        form = aiohttp.FormData()
        form.add_field("file", b"abc", filename="clip.weird-extension!", content_type="video/mp4")
        response = await client.post("/api/uploads?priority=high", data=form)
        job = await response.json()
        assert response.status == 201 and re.fullmatch(r"[0-9a-f]{32}", Path(job["upload"]["path"]).name)
        assert service.submitted[-1][2] == "high"

    run(service, body)


def test_upload_refusals_leave_no_files(service: MemoryJobService) -> None:
    async def body(client: TestClient) -> None:
        form = aiohttp.FormData()
        form.add_field("file", b"x" * 5000, filename="big.mp4", content_type="video/mp4")
        await _error(await client.post("/api/uploads", data=form), 413, "upload_too_large")

        form = aiohttp.FormData()
        form.add_field("file", b"", filename="empty.mp4", content_type="video/mp4")
        await _error(await client.post("/api/uploads", data=form), 400, "input_empty")

        form = aiohttp.FormData()
        form.add_field("options", '{"aspect": "2:1"}')
        form.add_field("file", b"abc", filename="a.mp4", content_type="video/mp4")
        await _error(await client.post("/api/uploads", data=form), 400, "request_invalid")

        form = aiohttp.FormData()
        form.add_field("priority", "high")
        await _error(await client.post("/api/uploads", data=form), 400, "request_invalid")
        await _error(await client.post("/api/uploads", json={"path": "x"}), 400, "request_invalid")

        async def refuse(path: str, options: dict, priority: str, name: str | None = None) -> dict:
            from streamapp.errors import InputError

            raise InputError("not a video", code="input_invalid")

        service.submit = refuse  # type: ignore[method-assign]
        form = aiohttp.FormData()
        form.add_field("file", b"abc", filename="a.mp4", content_type="video/mp4")
        await _error(await client.post("/api/uploads", data=form), 400, "input_invalid")
        assert not service.upload_dir().exists() or list(service.upload_dir().iterdir()) == []

    run(service, body, max_upload_bytes=1000)


def test_unexpected_errors_are_one_line_500s(service: MemoryJobService) -> None:
    async def boom(state: str | None = None, limit: int = 100) -> list:
        raise RuntimeError("database on fire\nTraceback lines that must not leak")

    service.list_jobs = boom  # type: ignore[method-assign]

    async def body(client: TestClient) -> None:
        response = await client.get("/api/jobs")
        await _error(response, 500, "internal_error")
        assert "Traceback" not in await response.text()

    run(service, body)


def _resolve(document: dict, pointer: str) -> Any:
    node: Any = document
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_openapi_lists_every_route(service: MemoryJobService) -> None:
    async def body(client: TestClient) -> None:
        response = await client.get("/api/openapi.json")
        assert response.status == 200 and response.headers["Content-Type"].startswith("application/json")
        document = await response.json()
        assert document["openapi"].startswith("3.1")
        served = set()
        for route in client.server.app.router.routes():
            info = route.resource.get_info() if route.resource else {}
            path = info.get("path") or info.get("formatter") or ""
            if path.startswith("/api/") and route.method != "HEAD":
                served.add((route.method.lower(), path))
        documented = {(method, path) for path, item in document["paths"].items() for method in item}
        assert served == documented
        for method, path in documented:
            operation = document["paths"][path][method]
            assert operation["operationId"] and operation["responses"]
            for name in re.findall(r"{(\w+)}", path):
                assert any(p["name"] == name and p["in"] == "path" for p in operation["parameters"])

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if "$ref" in node:
                    _resolve(document, node["$ref"])  # raises KeyError when dangling
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(document)
        # No token configured: the document asks for none.
        assert "security" not in document and "securitySchemes" not in document["components"]
        assert all("401" not in op["responses"] for item in document["paths"].values() for op in item.values())

    run(service, body)
    assert openapi_document() is not openapi_document()

    async def secured(client: TestClient) -> None:
        document = await (await client.get("/api/openapi.json", headers={"Authorization": "Bearer t0k"})).json()
        assert document["security"] and set(document["components"]["securitySchemes"]) == {"bearer", "queryToken"}
        assert document["paths"]["/api/jobs"]["get"]["responses"]["401"]

    run(service, secured, token="t0k")


def test_page_and_static_files(service: MemoryJobService) -> None:
    async def body(client: TestClient) -> None:
        page = await client.get("/")
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
        html = await page.text()
        assert "/static/app.js" in html and "/static/style.css" in html
        assert "http://" not in html and "https://" not in html  # nothing from outside
        for name in ("app.js", "style.css"):
            assert (await client.get(f"/static/{name}")).status == 200
        assert (await client.get("/static/../api/routes.py")).status in (403, 404)

    run(service, body)


@pytest.mark.parametrize(("host", "needed"), [
    ("127.0.0.1", False), ("127.8.9.10", False), ("::1", False), ("[::1]", False), ("localhost", False),
    ("LOCALHOST", False), ("0.0.0.0", True), ("::", True), ("", True), ("192.168.1.5", True),
    ("example.com", True), ("10.0.0.1", True),
])
def test_token_required(host: str, needed: bool) -> None:
    assert token_required(host) is needed
