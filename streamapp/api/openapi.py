"""The OpenAPI 3.1 description of the HTTP API, served at /api/openapi.json (hand-written; tests keep it in step)."""

from __future__ import annotations

from copy import deepcopy
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from streamapp.events import standalone_schema
from streamapp.job import EditState, Priority, Stage, State
from streamapp.options import request_options_schema
from streamapp.stages.export import edit_changes_schema

_REF = "#/components/schemas/"
_ERROR = {"$ref": "#/components/responses/Error"}
_AUTH_ERROR = {"$ref": "#/components/responses/Unauthorized"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


_JOB_ID = {"name": "job_id", "in": "path", "required": True,
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}

_CLIP_ID = {"name": "clip_id", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,80}$"},
            "description": "a clip's id in the job's manifest"}

def _request_to_worker(operation_id: str, summary: str, parameters: list[dict[str, Any]], body: dict[str, Any],
                       accepted: dict[str, Any], conflict: str) -> dict[str, Any]:
    """A POST that sends a request on to the job's worker: an optional JSON body, 202 when it is on its way, 409
    when the job's state refuses it."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "parameters": parameters,
        "requestBody": {"required": False, "content": {"application/json": {"schema": body}}},
        "responses": {"202": accepted, "400": _ERROR, "401": _AUTH_ERROR, "404": _ERROR,
                      "409": _json(_ref("Error"), conflict)},
    }


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "pattern": "^[a-z_]+$", "examples": ["input_forbidden"]},
                    "message": {"type": "string", "maxLength": 500},
                },
            }
        },
    },
    "Options": {
        **request_options_schema(),
        "description": "Clip options of one job (schemas/common.schema.json#/$defs/options); unset = defaults. "
                       "Also refused: min_duration_s over max_duration_s (given or default), a range that "
                       "ends before it starts, times past a week.",
    },
    "Priority": {"enum": [p.value for p in Priority], "default": Priority.NORMAL.value},
    "Submission": {
        "type": "object",
        "required": ["path"],
        "properties": {
            "path": {"type": "string", "minLength": 1, "maxLength": 4096, "pattern": "^[^\\x00]*\\S[^\\x00]*$",
                     "description": "a video file the workers can read (inside the allowed input folders)"},
            "options": _ref("Options"),
            "priority": _ref("Priority"),
            "live": {"type": "boolean", "default": False, "description": "path is a live HLS playlist (.m3u8) "
                     "followed while it grows; it need not exist yet"},
        },
    },
    "Job": {
        "type": "object",
        "required": ["job_id", "state", "stage", "progress"],
        "properties": {
            "job_id": {"type": "string"},
            "state": {"enum": [s.value for s in State]},
            "stage": {"enum": [s.value for s in Stage]},
            "progress": {"type": "number", "minimum": 0, "maximum": 1, "description": "progress of this stage"},
            "attempts": {"type": "integer", "minimum": 0},
            "error": {"oneOf": [{"type": "null"}, {"$ref": _REF + "Error/properties/error"}]},
            "path": {"type": "string"},
            "name": {"type": "string", "description": "an upload's original file name"},
            "priority": _ref("Priority"),
            "options": _ref("Options"),
            "created_at": {"type": "number", "description": "seconds since the Unix epoch"},
            "updated_at": {"type": "number"},
            "retry_at": {"type": "number", "description": "earliest next attempt after a transient error"},
            "cancel_requested": {"type": "number", "description": "when a cancel was asked for; the job then "
                                 "ends as failed with code \"cancelled\", unless it ended first"},
            "edits": {"type": "array", "items": _ref("ClipEdit"), "description": "the latest edits of the "
                      "job's clips, oldest first"},
            "live": standalone_schema("job_status", "properties", "live"),
            "stop_requested": {"type": "number", "description": "when a live job was told to end its stream; it "
                               "then makes the clips still open and ends as done"},
        },
    },
    "ClipEditRequest": {
        **edit_changes_schema(),
        "description": "What to change in the clip (schemas/clip_edit.schema.json); fields left out keep the "
                       "clip's current values. Also refused: a range shorter than 1 s or outside the video.",
    },
    "ClipEdit": {
        "type": "object",
        "required": ["edit_id", "clip_id", "state"],
        "properties": {
            "edit_id": {"type": "string"},
            "clip_id": {"type": "string"},
            "state": {"enum": [s.value for s in EditState]},
            "at": {"type": "number"},
            "request": _ref("ClipEditRequest"),
            "version": {"type": "integer", "minimum": 2, "description": "the clip's version this edit made"},
            "file": {"type": "string", "description": "the new version's file"},
            "caption_fixes": {"type": "integer", "description": "how many caption fixes a finished edit made"},
            "ended_at": {"type": "number"},
            "error": {"$ref": _REF + "Error/properties/error"},
        },
    },
    "ClipWords": {
        "type": "object",
        "required": ["clip_id", "duration_s", "words"],
        "properties": {
            "clip_id": {"type": "string"},
            "duration_s": {"type": "number", "description": "the source video's duration"},
            "words": {"type": "array", "items": {"type": "object", "required": ["start_s", "end_s", "text"],
                                                 "properties": {"start_s": {"type": "number"},
                                                                "end_s": {"type": "number"},
                                                                "text": {"type": "string"}}}},
        },
    },
    "JobList": {"type": "object", "required": ["jobs"],
                "properties": {"jobs": {"type": "array", "items": _ref("Job")}}},
    "UploadedJob": {
        "allOf": [
            _ref("Job"),
            {"type": "object", "properties": {"upload": {
                "type": "object",
                "properties": {"filename": {"type": "string"}, "path": {"type": "string"},
                               "bytes": {"type": "integer"}},
            }}},
        ]
    },
    "Batch": {
        "description": "{jobs: [...]} or the list alone; a malformed submission refuses the whole batch (400)",
        "oneOf": [
            {"type": "object", "required": ["jobs"], "properties": {"jobs": _ref("Submissions")}},
            _ref("Submissions"),
        ],
    },
    "Submissions": {"type": "array", "minItems": 1, "maxItems": 100, "items": _ref("Submission")},
    "BatchResult": {
        "type": "object",
        "required": ["accepted", "rejected", "results"],
        "properties": {
            "accepted": {"type": "integer"},
            "rejected": {"type": "integer"},
            "results": {"type": "array", "description": "one per submission, in order", "items": {
                "oneOf": [
                    {"type": "object", "required": ["ok", "job"],
                     "properties": {"ok": {"const": True}, "job": _ref("Job")}},
                    {"type": "object", "required": ["ok", "error"],
                     "properties": {"ok": {"const": False}, "error": {"$ref": _REF + "Error/properties/error"}}},
                ]
            }},
        },
    },
    "Manifest": {
        "type": "object",
        "description": "manifest.json of a finished job (schemas/manifest.schema.json)",
        "required": ["schema_version", "job_id", "source", "clips", "timings_s"],
        "properties": {
            "job_id": {"type": "string"},
            "source": {"type": "object"},
            "options": _ref("Options"),
            "clips": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "start_s", "end_s", "score", "subscores", "reason", "file"],
                "properties": {
                    "id": {"type": "string"},
                    "start_s": {"type": "number"},
                    "end_s": {"type": "number"},
                    "score": {"type": "number", "minimum": 0, "maximum": 100},
                    "subscores": {"type": "object", "additionalProperties": {"type": "number"}},
                    "reason": {"type": "string"},
                    "file": {"type": "string", "description": "name for /api/jobs/{job_id}/files/{name}"},
                    "captions_srt": {"type": ["string", "null"]},
                    "captions_vtt": {"type": ["string", "null"]},
                    "thumbnail": {"type": ["string", "null"]},
                },
            }},
            "timings_s": {"type": "object", "additionalProperties": {"type": "number"}},
        },
    },
    "Signals": {
        "type": "object",
        "required": ["t_s", "score"],
        "description": "the video's score over time; t_s and score have the same length",
        "properties": {"t_s": {"type": "array", "items": {"type": "number"}},
                       "score": {"type": "array", "items": {"type": "number"}}},
    },
}

# From a new job's id to what can be asked of it at once (OpenAPI links; schemathesis' stateful phase follows
# them). Its manifest and signals come only once it is done, so they are not linked.
_JOB_LINKS = {
    name: {"operationId": operation, "parameters": {"job_id": "$response.body#/job_id"}}
    for name, operation in (("GetJob", "getJob"), ("CancelJob", "cancelJob"))
}

_PATHS: dict[str, Any] = {
    "/api/jobs": {
        "get": {
            "operationId": "listJobs",
            "summary": "Jobs known to this worker, newest first",
            "parameters": [
                {"name": "state", "in": "query", "schema": {
                    "enum": [s.value for s in State]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000,
                                                             "default": 100}},
            ],
            "responses": {"200": _json(_ref("JobList"), "the jobs"), "400": _ERROR, "401": _AUTH_ERROR},
        },
        "post": {
            "operationId": "submitJob",
            "summary": "Submit a video by path",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Submission")}}},
            "responses": {
                "201": {**_json(_ref("Job"), "the new job, queued"), "links": _JOB_LINKS},
                "400": _ERROR, "401": _AUTH_ERROR, "403": _ERROR, "503": _ERROR,
            },
        },
    },
    "/api/jobs/batch": {
        "post": {
            "operationId": "submitBatch",
            "summary": "Submit several videos by path; each gets its own result",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Batch")}}},
            "responses": {"200": _json(_ref("BatchResult"), "one result per submission"), "400": _ERROR,
                          "401": _AUTH_ERROR, "413": _ERROR},
        },
    },
    "/api/uploads": {
        "post": {
            "operationId": "uploadVideo",
            "summary": "Upload a video (multipart/form-data) and submit it",
            "description": "The file is streamed to the worker's upload folder under a generated name. Options "
                           "and priority may also be given as query parameters.",
            "parameters": [
                {"name": "priority", "in": "query", "schema": _ref("Priority")},
                {"name": "options", "in": "query", "schema": {"type": "string", "description": "JSON object"}},
            ],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "contentMediaType": "application/octet-stream", "minLength": 1,
                             "description": "the video; an empty file is refused (input_empty)"},
                    "priority": _ref("Priority"),
                    "options": {"type": "string", "description": "JSON object, see Options"},
                },
            }}}},
            "responses": {"201": {**_json(_ref("UploadedJob"), "the new job, queued"), "links": _JOB_LINKS},
                          "400": _ERROR, "401": _AUTH_ERROR, "413": _ERROR},
        },
    },
    "/api/jobs/{job_id}": {
        "get": {
            "operationId": "getJob",
            "summary": "One job",
            "parameters": [_JOB_ID],
            "responses": {"200": _json(_ref("Job"), "the job"), "401": _AUTH_ERROR, "404": _ERROR},
        },
    },
    "/api/jobs/{job_id}/cancel": {
        "post": _request_to_worker(
            "cancelJob", "Stop a job: its worker stops the stage, removes the job's files, and ends it as failed "
            "with code \"cancelled\"", [_JOB_ID],
            {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 200}}},
            _json(_ref("Job"), "the cancel is on its way to the job's worker"), "the job has already ended"),
    },
    "/api/jobs/{job_id}/stop": {
        "post": _request_to_worker(
            "stopJob", "End a live job's stream now: its worker makes the clips still open and ends it as done "
            "(manifest live.ended_by \"stopped\")", [_JOB_ID], {"type": "object"},
            _json(_ref("Job"), "the stop is on its way to the job's worker"), "the job has ended, or is not live"),
    },
    "/api/jobs/{job_id}/manifest": {
        "get": {
            "operationId": "getManifest",
            "summary": "The manifest of a finished job: its clips with scores, subscores and reasons",
            "parameters": [_JOB_ID],
            "responses": {"200": _json(_ref("Manifest"), "the manifest"), "401": _AUTH_ERROR, "404": _ERROR},
        },
    },
    "/api/jobs/{job_id}/signals": {
        "get": {
            "operationId": "getSignals",
            "summary": "The video's score over time (for the plot)",
            "parameters": [_JOB_ID],
            "responses": {"200": _json(_ref("Signals"), "the series"), "401": _AUTH_ERROR, "404": _ERROR},
        },
    },
    "/api/jobs/{job_id}/files/{name}": {
        "get": {
            "operationId": "getFile",
            "summary": "A file of the job's clips: mp4, jpg thumbnail, srt or vtt captions",
            "description": "Supports Range requests, so browsers can seek. Add ?download=1 for an attachment.",
            "parameters": [
                _JOB_ID,
                {"name": "name", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$"}},
                {"name": "Range", "in": "header", "schema": {"type": "string"}},
                {"name": "download", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": "the file", "content": {"video/mp4": {}, "image/jpeg": {}, "text/vtt": {},
                                                               "application/x-subrip": {}}},
                "206": {"description": "part of the file (Range)"},
                "401": _AUTH_ERROR,
                "404": _ERROR,
                "416": {"description": "the range is not satisfiable"},
            },
        },
    },
    "/api/jobs/{job_id}/clips/{clip_id}/edit": {
        "post": {
            **_request_to_worker(
                "editClip", "Change a done job's clip (trim, aspect, layout, caption words) and render it again",
                [_JOB_ID, _CLIP_ID], _ref("ClipEditRequest"),
                _json(_ref("ClipEdit"), "the edit is on its way to the job's worker"), "the job is not done"),
            "description": "The edit travels to the job's worker as a clip_edit event; the worker renders the new "
                           "version beside the old one, then replaces the clip in the manifest. Follow it in the "
                           "job's edits; the results topic gets a clip_edited event.",
        },
    },
    "/api/jobs/{job_id}/clips/{clip_id}/words": {
        "get": {
            "operationId": "getClipWords",
            "summary": "The transcript around a clip, with its caption fixes: for trimming to words and "
                       "correcting captions",
            "parameters": [_JOB_ID, _CLIP_ID],
            "responses": {"200": _json(_ref("ClipWords"), "the words"), "401": _AUTH_ERROR, "404": _ERROR},
        },
    },
    "/api/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1 document", "content": {"application/json": {}}},
                          "401": _AUTH_ERROR},
        },
    },
}


def _package_version() -> str:
    try:
        return version("streamapp")
    except PackageNotFoundError:
        return "0.0.0"


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "streamapp",
            "version": _package_version(),
            "description": "Submit long videos, follow their jobs, and fetch the scored short clips. When the "
                           "worker has a token, send it as 'Authorization: Bearer <token>' or '?token=<token>'.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"queryToken": []}],
        "paths": _PATHS,
        "components": {
            "schemas": _SCHEMAS,
            "responses": {
                "Error": _json(_ref("Error"), "the request failed; see error.code"),
                "Unauthorized": _json(_ref("Error"), "a valid token is required"),
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
    }


def openapi_document(secured: bool = True) -> dict[str, Any]:
    """A fresh copy of the document (callers may change it). ``secured`` False (no token configured):
    no security schemes and no 401 answers, since none are asked for."""
    document = deepcopy(_document())
    if not secured:
        document.pop("security", None)
        document["components"].pop("securitySchemes", None)
        document["components"]["responses"].pop("Unauthorized", None)
        for operations in document["paths"].values():
            for operation in operations.values():
                if isinstance(operation, dict):
                    operation.get("responses", {}).pop("401", None)
    return document
