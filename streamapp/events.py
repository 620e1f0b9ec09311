"""Event validation against the JSON Schemas in ``schemas/`` (the single source of event shapes).

Code builds plain dicts and calls :func:`validate` before sending and after receiving;
the shapes themselves are never restated here.
"""

from __future__ import annotations

import time
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from streamapp.errors import EventError

if TYPE_CHECKING:  # jsonschema loads with the first validation: commands that validate nothing start without it
    from jsonschema import Draft202012Validator
    from referencing import Registry

SCHEMA_VERSION = 1
EVENT_TYPES = (
    "video_submitted",
    "extracted",
    "scored",
    "job_status",
    "job_cancel",
    "job_expired",
    "clip_edit",
    "clip_edited",
    "clip_ready",
    "job_done",
    "job_failed",
    "dead_letter",
    "metrics_sample",
    "pool_decision",
    "alert",
    "segment",
    "job_stop",
)
_BASE_URI = "https://streamapp.dev/schemas/"


def schemas_dir() -> Path:
    """The schemas folder: packaged inside the wheel, or at the repository root in a checkout."""
    packaged = Path(__file__).parent / "_schemas"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "schemas"


@lru_cache(maxsize=1)
def _registry() -> Registry:
    from referencing import Registry, Resource

    resources = []
    for path in sorted(schemas_dir().glob("*.schema.json")):
        contents = orjson.loads(path.read_bytes())
        resources.append((_BASE_URI + path.name, Resource.from_contents(contents)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    """The validator for ``schemas/<name>.schema.json`` (an event type, or "manifest")."""
    from jsonschema import Draft202012Validator

    resource = _registry().get(_BASE_URI + f"{name}.schema.json")
    if resource is None:
        raise EventError(f"no schema named {name!r}", code="event_unknown_type")
    return Draft202012Validator(resource.contents, registry=_registry())


def _first_error(name: str, value: Any) -> str | None:
    error = next(iter(sorted(validator(name).iter_errors(value), key=lambda e: list(e.path))), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{name} at {where}: {error.message}"[:300]


@cache
def _schema_file(name: str) -> dict[str, Any]:
    return orjson.loads((schemas_dir() / f"{name}.schema.json").read_bytes())


def standalone_schema(name: str, *pointer: str) -> dict[str, Any]:
    """The part of ``schemas/<name>.schema.json`` at ``pointer`` with every ``$ref`` to a shared definition
    inlined, so it stands alone (the OpenAPI document, request checks). A fresh copy each call."""

    def inline(node: Any, home: str) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if "#/$defs/" in ref:
                file, _, definition = ref.partition("#/$defs/")
                where = file.removesuffix(".schema.json") or home
                return inline(_schema_file(where)["$defs"][definition], where)
            return {key: inline(value, home) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value, home) for value in node]
        return node

    node: Any = _schema_file(name)
    for key in pointer:
        node = node[key]
    return inline(node, name)


def validate(event: Any) -> dict[str, Any]:
    """Return the event if it matches the schema of its ``type``; raise :class:`EventError` if not."""
    if not isinstance(event, dict):
        raise EventError("event is not a JSON object", code="event_malformed")
    kind = event.get("type")
    if kind not in EVENT_TYPES:
        raise EventError(f"unknown event type {kind!r}", code="event_unknown_type")
    version = event.get("schema_version")
    if version != SCHEMA_VERSION:
        raise EventError(f"unsupported schema_version {version!r} for {kind}", code="event_unknown_version")
    problem = _first_error(kind, event)
    if problem:
        raise EventError(problem, code="event_invalid")
    return event


def validate_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    problem = _first_error("manifest", manifest)
    if problem:
        raise EventError(problem, code="manifest_invalid")
    return manifest


def decode(raw: bytes | str, max_bytes: int) -> dict[str, Any]:
    """Parse and validate raw bytes from a topic."""
    if len(raw) > max_bytes:
        raise EventError(f"event of {len(raw)} bytes exceeds the {max_bytes}-byte limit", code="event_too_large")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventError(f"event is not valid JSON: {exc}", code="event_malformed") from None
    return validate(value)


def new_event(kind: str, job_id: str, **fields: Any) -> dict[str, Any]:
    """Build an event of ``kind`` with the common header, and validate it."""
    event = {"schema_version": SCHEMA_VERSION, "type": kind, "job_id": job_id, **fields}
    return validate(event)


def status_event(
    job_id: str,
    state: str,
    stage: str,
    *,
    progress: float = 0.0,
    attempts: int = 0,
    error: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return new_event(
        "job_status",
        job_id,
        state=state,
        stage=stage,
        progress=round(min(max(progress, 0.0), 1.0), 4),
        attempts=attempts,
        error=error,
        at=time.time(),
        **extra,
    )
