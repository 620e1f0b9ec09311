"""The HTTP API (JSON under /api) and the web page (/ and /static), on aiohttp.

Two ways in:

* ``create_api(service, token=...)`` returns a stand-alone ``aiohttp.web.Application`` (tests, or a
  server of its own);
* ``add_routes(app, service, token=...)`` adds the same routes to an existing application, such as
  the Faust worker's ``app.web.web_app``. aiohttp refuses a sub-application at prefix "/", so this
  is the way to share the worker's port.

Errors are ``{"error": {"code": ..., "message": ...}}`` with a fitting HTTP status. When ``token`` is
set every /api/* request must carry ``Authorization: Bearer <token>`` or ``?token=<token>`` (the
query form is for <video>/<track> sources and download links, which cannot send headers).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from streamapp.api.openapi import openapi_document
from streamapp.api.service import JobService
from streamapp.app.jobs import public_job
from streamapp.errors import InputError, StreamappError, TransientError
from streamapp.job import PRIORITIES, STATES
from streamapp.options import check_options
from streamapp.stages.export import check_changes

log = logging.getLogger("streamapp.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A job's own route: any segment but "batch", which is the batch route's (matched by both, OPTIONS and 405
# answers for /api/jobs/batch would list the job's GET as well).
JOB_ID_ROUTE = r"(?!batch$)[^{}/]+"
CLIP_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
SUFFIX = re.compile(r"^\.[a-z0-9]{1,10}$")
CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                 ".vtt": "text/vtt; charset=utf-8", ".srt": "application/x-subrip; charset=utf-8",
                 ".json": "application/json", ".otio": "application/json"}
# HTTP status of an error code; anything else: 400 for a permanent error, 503 transient, else 500.
STATUS_OF_CODE = {
    "unauthorized": 401,
    "input_forbidden": 403,
    "job_unknown": 404,
    "job_ended": 409,
    "job_pending": 409,
    "job_not_done": 409,
    "edits_busy": 409,
    "clip_unknown": 404,
    "words_unavailable": 404,
    "manifest_missing": 404,
    "edit_unavailable": 501,
    "cancel_unavailable": 501,
    "job_not_live": 409,
    "manifest_unavailable": 404,
    "signals_unavailable": 404,
    "file_unknown": 404,
    "upload_too_large": 413,
    "batch_too_large": 413,
}
MAX_BATCH = 100
MAX_FIELD_BYTES = 64 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 8 * 1024**3
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

class ApiError(StreamappError):
    """A request the API itself refuses (bad query, unknown job, missing token, ...)."""

    permanent = True


def token_required(host: str) -> bool:
    """True unless ``host`` is a loopback address or name: a worker listening beyond loopback needs a token.

    An empty host or "0.0.0.0"/"::" (every interface) needs one.
    """
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return False
    try:
        return not ipaddress.ip_address(name).is_loopback
    except ValueError:
        return True


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message.splitlines()[0][:500] if message else code}}


def error_response(code: str, message: str, status: int) -> web.Response:
    return json_response(error_body(code, message), status=status)


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY), status=status,
                        content_type="application/json")


def status_of(exc: StreamappError) -> int:
    if exc.code in STATUS_OF_CODE:
        return STATUS_OF_CODE[exc.code]
    if isinstance(exc, TransientError):
        return 503
    return 400 if exc.permanent else 500


def parse_submission(body: Any) -> tuple[str, dict[str, Any], str, bool]:
    """``{path, options?, priority?, live?}`` -> (path, options, priority, live), or an InputError naming the
    problem."""
    if not isinstance(body, dict):
        raise InputError("a submission is a JSON object {path, options, priority}", code="request_invalid")
    path = body.get("path")
    if not isinstance(path, str) or not path.strip() or len(path) > 4096:
        raise InputError("path must be a non-empty string of at most 4096 characters", code="request_invalid")
    if "\x00" in path:  # no file system takes it (Python raises ValueError on it)
        raise InputError("path must not contain a NUL character", code="request_invalid")
    options = body.get("options", {})  # absent: the defaults; present, it must be an options object
    priority = body.get("priority", "normal")
    live = body.get("live", False)
    if not isinstance(live, bool):
        raise InputError("live must be true or false", code="request_invalid")
    return path, check_options(options), check_priority(priority), live


def parse_options_text(text: str | None) -> dict[str, Any]:
    """Options given as JSON text (a query parameter or form field), checked."""
    try:
        options = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        raise InputError("options must be JSON text", code="request_invalid") from None
    return check_options(options)


def check_priority(priority: Any) -> str:
    if priority not in PRIORITIES:
        raise InputError(f"priority must be one of {', '.join(PRIORITIES)}", code="request_invalid")
    return str(priority)


def authorized(request: web.Request, token: str) -> bool:
    """A bearer token in the Authorization header, or ?token= (for <video> sources and downloads)."""
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else request.query.get("token", "")
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


_QUERY_TOKEN = re.compile(r"([?&]token=)[^&#]*")


def redact(path_qs: str) -> str:
    """``path_qs`` with any ``token=`` query value hidden, for logs."""
    return _QUERY_TOKEN.sub(r"\1***", path_qs)


class RedactingAccessLogger(AbstractAccessLogger):
    """aiohttp's access log line, with query tokens hidden (a ``?token=`` would otherwise be logged)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %.3f s', request.remote, request.method, redact(request.path_qs),
                         response.status, time)


def _guard(handler: Handler, token: str | None) -> Handler:
    """Token check and error mapping around an /api handler."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        if token and not authorized(request, token):
            response = error_response("unauthorized", "a valid token is required (Authorization: Bearer <token>)",
                                      401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="streamapp"'
            return response
        try:
            return await handler(request)
        except StreamappError as exc:
            return error_response(exc.code, exc.message, status_of(exc))
        except web.HTTPException:
            raise
        except Exception as exc:  # one line to the client, the traceback to the log
            log.exception("%s %s failed", request.method, request.path)
            return error_response("internal_error", f"{type(exc).__name__}: {exc}", 500)

    return guarded


def _job_id(request: web.Request) -> str:
    job_id = request.match_info["job_id"]
    if not JOB_ID.match(job_id):
        raise ApiError(f"no job {job_id[:80]}", code="job_unknown")
    return job_id


def _clip_id(request: web.Request) -> str:
    clip_id = request.match_info["clip_id"]
    if not CLIP_ID.match(clip_id):
        raise ApiError(f"no clip {clip_id[:80]}", code="clip_unknown")
    return clip_id


async def _json_body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the body is not valid JSON: {exc}", code="request_invalid") from None
    except web.HTTPRequestEntityTooLarge:
        raise ApiError("the request body is too large", code="batch_too_large") from None


class _Api:
    def __init__(self, service: JobService, max_upload_bytes: int, secured: bool = True) -> None:
        self.service = service
        self.max_upload_bytes = max_upload_bytes
        self.secured = secured  # a token is configured: the document declares how to send it

    async def list_jobs(self, request: web.Request) -> web.Response:
        state = request.query.get("state")  # absent: every state; present, it must name one
        if state is not None and state not in STATES:
            raise InputError(f"state must be one of {', '.join(STATES)}", code="request_invalid")
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            raise InputError("limit must be an integer", code="request_invalid") from None
        if not 1 <= limit <= 1000:
            raise InputError("limit must be between 1 and 1000", code="request_invalid")
        jobs = await self.service.list_jobs(state=state, limit=limit)
        return json_response({"jobs": [public_job(job) for job in jobs[:limit]]})

    async def get_job(self, request: web.Request) -> web.Response:
        job_id = _job_id(request)
        job = await self.service.get_job(job_id)
        if job is None:
            raise ApiError(f"no job {job_id}", code="job_unknown")
        return json_response(public_job(job))

    async def submit(self, request: web.Request) -> web.Response:
        path, options, priority, live = parse_submission(await _json_body(request))
        job = await self.service.submit(path, options, priority, live=live)
        return json_response(public_job(job), status=201)

    async def submit_batch(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        items = body.get("jobs") if isinstance(body, dict) else body
        if not isinstance(items, list) or not items:
            raise InputError('a batch is {"jobs": [{path, options, priority}, ...]}', code="request_invalid")
        if len(items) > MAX_BATCH:
            raise ApiError(f"at most {MAX_BATCH} jobs per batch", code="batch_too_large")
        # A malformed submission refuses the whole batch (400); each well-formed one gets its own result, which
        # says whether the service took it (a missing file, a forbidden folder).
        parsed = []
        for index, item in enumerate(items):
            try:
                parsed.append(parse_submission(item))
            except InputError as exc:
                raise InputError(f"jobs[{index}]: {exc.message}", code=exc.code) from None
        results = []
        for path, options, priority, live in parsed:
            try:
                job = await self.service.submit(path, options, priority, live=live)
                results.append({"ok": True, "job": public_job(job)})
            except StreamappError as exc:
                results.append({"ok": False, **error_body(exc.code, exc.message)})
        accepted = sum(1 for r in results if r["ok"])
        return json_response({"accepted": accepted, "rejected": len(results) - accepted, "results": results})

    async def upload(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > self.max_upload_bytes + MAX_FIELD_BYTES:
            raise ApiError(f"uploads are limited to {self.max_upload_bytes} bytes", code="upload_too_large")
        if not request.content_type.startswith("multipart/"):
            raise InputError("an upload is multipart/form-data with a 'file' field", code="request_invalid")
        fields = {"priority": request.query.get("priority"), "options": request.query.get("options")}
        if fields["priority"] is not None:  # checked here too: form fields may replace them below
            check_priority(fields["priority"])
        if fields["options"] is not None:
            parse_options_text(fields["options"])
        saved: Path | None = None
        original = ""
        try:
            try:
                reader = await request.multipart()
            except ValueError:  # multipart/form-data without a boundary
                raise InputError("the multipart body has no boundary", code="request_invalid") from None
            while (part := await self._next_part(reader)) is not None:
                if part.filename is not None or part.name == "file":
                    if saved is not None:
                        raise InputError("one file per upload", code="request_invalid")
                    original = part.filename or ""
                    saved = await self._save(part, original)  # type: ignore[arg-type]
                elif part.name in fields:
                    fields[part.name] = (await _read_small(part)).decode("utf-8", "replace")  # type: ignore[arg-type]
                else:
                    await part.release()
            if saved is None:
                raise InputError("the upload has no 'file' field", code="request_invalid")
            options = parse_options_text(fields["options"])
            priority = check_priority(fields["priority"] or "normal")
            job = await self.service.submit(str(saved), options, priority, name=Path(original).name[:255] or None)
        except BaseException:
            if saved is not None:
                saved.unlink(missing_ok=True)
            raise
        result = public_job(job)
        result["upload"] = {"filename": original[:255], "path": str(saved), "bytes": saved.stat().st_size}
        return json_response(result, status=201)

    @staticmethod
    async def _next_part(reader: Any) -> Any:
        try:
            return await reader.next()
        except (HttpProcessingError, ValueError, UnicodeDecodeError):  # a malformed part header, a bad boundary
            raise InputError("the multipart body is malformed", code="request_invalid") from None

    async def _save(self, part: Any, filename: str) -> Path:
        """Stream one file part to the upload folder under a generated name; never the client's name."""
        folder = self.service.upload_dir()
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        suffix = Path(filename).suffix.lower()
        name = uuid.uuid4().hex + (suffix if SUFFIX.match(suffix) else "")
        final = folder / name
        partial = folder / f".{name}.part"
        size = 0
        handle = await asyncio.to_thread(partial.open, "wb")
        try:
            while chunk := await part.read_chunk(1 << 20):
                size += len(chunk)
                if size > self.max_upload_bytes:
                    raise ApiError(f"uploads are limited to {self.max_upload_bytes} bytes", code="upload_too_large")
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.close)
            if size == 0:
                raise InputError("the uploaded file is empty", code="input_empty")
            await asyncio.to_thread(partial.replace, final)
        finally:
            handle.close()
            partial.unlink(missing_ok=True)
        return final

    async def _missing(self, job_id: str, what: str, code: str) -> ApiError:
        """Why a job's document is absent: an unknown job, or one that has not produced it yet."""
        if await self.service.get_job(job_id) is None:
            return ApiError(f"no job {job_id}", code="job_unknown")
        return ApiError(f"job {job_id} has no {what} yet", code=code)

    async def cancel(self, request: web.Request) -> web.Response:
        job_id = _job_id(request)
        body = await _json_body(request) if request.can_read_body else {}
        reason = body.get("reason") if isinstance(body, dict) else None
        if reason is not None and (not isinstance(reason, str) or len(reason) > 200):
            raise InputError("reason must be a string of at most 200 characters", code="request_invalid")
        return json_response(public_job(await self.service.cancel(job_id, reason)), status=202)

    async def stop(self, request: web.Request) -> web.Response:
        return json_response(public_job(await self.service.stop(_job_id(request))), status=202)

    async def edit(self, request: web.Request) -> web.Response:
        job_id, clip_id = _job_id(request), _clip_id(request)
        changes = check_changes(await _json_body(request) if request.can_read_body else {})
        return json_response(await self.service.edit(job_id, clip_id, changes), status=202)

    async def words(self, request: web.Request) -> web.Response:
        job_id, clip_id = _job_id(request), _clip_id(request)
        words = await self.service.words(job_id, clip_id)
        if words is None:
            raise await self._missing(job_id, "transcript", "words_unavailable")
        return json_response(words)

    async def manifest(self, request: web.Request) -> web.Response:
        job_id = _job_id(request)
        manifest = await self.service.manifest(job_id)
        if manifest is None:
            raise await self._missing(job_id, "manifest", "manifest_unavailable")
        return json_response(manifest)

    async def signals(self, request: web.Request) -> web.Response:
        job_id = _job_id(request)
        series = await self.service.signals(job_id)
        if series is None:
            raise await self._missing(job_id, "score signal", "signals_unavailable")
        return json_response(series)

    async def file(self, request: web.Request) -> web.StreamResponse:
        job_id = _job_id(request)
        name = request.match_info["name"]
        if not FILE_NAME.match(name) or ".." in name:
            raise ApiError("no such file", code="file_unknown")
        path = self.service.clip_path(job_id, name)
        if path is None or path.name != name or not path.is_file():
            raise ApiError("no such file", code="file_unknown")
        headers = {"Cache-Control": "private, max-age=60"}
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if content_type:
            headers["Content-Type"] = content_type
        if request.query.get("download"):
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return web.FileResponse(path, headers=headers)

    async def openapi(self, request: web.Request) -> web.Response:
        return json_response(openapi_document(secured=self.secured))


async def _read_small(part: Any, limit: int = MAX_FIELD_BYTES) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(8192):
        data += chunk
        if len(data) > limit:
            raise InputError(f"form field {part.name!r} is longer than {limit} bytes", code="request_invalid")
    return bytes(data)


def _page(static_dir: Path) -> Handler:
    async def index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(static_dir / "index.html", headers={"Cache-Control": "no-cache"})

    return index


def add_routes(
    app: web.Application,
    service: JobService,
    *,
    token: str | None,
    static_dir: Path | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    page_path: str = "/",
) -> None:
    """Add /api/*, the page at ``page_path`` and /static/* to ``app``.

    Every route is named ("streamapp-..."), so a later unnamed GET / of the same app (Faust's
    production index) becomes a separate resource instead of clashing; the first registered wins.
    """
    if static_dir is None:
        from streamapp.web import STATIC_DIR

        static_dir = STATIC_DIR
    api = _Api(service, max_upload_bytes, secured=bool(token))
    routes: list[tuple[str, str, Handler, str]] = [
        ("GET", "/api/openapi.json", api.openapi, "openapi"),
        ("GET", "/api/jobs", api.list_jobs, "jobs"),
        ("POST", "/api/jobs", api.submit, "jobs-submit"),
        ("POST", "/api/jobs/batch", api.submit_batch, "jobs-batch"),
        ("POST", "/api/uploads", api.upload, "uploads"),
        ("GET", f"/api/jobs/{{job_id:{JOB_ID_ROUTE}}}", api.get_job, "job"),
        ("POST", "/api/jobs/{job_id}/cancel", api.cancel, "job-cancel"),
        ("POST", "/api/jobs/{job_id}/stop", api.stop, "job-stop"),
        ("GET", "/api/jobs/{job_id}/manifest", api.manifest, "job-manifest"),
        ("GET", "/api/jobs/{job_id}/signals", api.signals, "job-signals"),
        ("GET", "/api/jobs/{job_id}/files/{name}", api.file, "job-file"),
        ("POST", "/api/jobs/{job_id}/clips/{clip_id}/edit", api.edit, "clip-edit"),
        ("GET", "/api/jobs/{job_id}/clips/{clip_id}/words", api.words, "clip-words"),
    ]
    for method, path, handler, name in routes:
        app.router.add_route(method, path, _guard(handler, token), name=f"streamapp-{name}-{method.lower()}")
    if any(r.method == "GET" and r.resource is not None and r.resource.canonical == page_path
           for r in app.router.routes()):
        log.warning("GET %s is already routed (Faust's index?): the page will not show there; call add_routes before "
                    "the web server initialises, or pass another page_path", page_path)
    app.router.add_get(page_path, _page(static_dir), name="streamapp-page")
    app.router.add_static("/static", static_dir, name="streamapp-static", append_version=False)


def create_api(
    service: JobService,
    *,
    token: str | None,
    static_dir: Path | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> web.Application:
    """A stand-alone application serving the API, the page and its static files."""
    app = web.Application()
    add_routes(app, service, token=token, static_dir=static_dir, max_upload_bytes=max_upload_bytes)
    return app
