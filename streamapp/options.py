"""A job's clip options: checked in one place, merged over the settings in one place.

The fields and their limits are stated once, in schemas/common.schema.json (``$defs/options``): events
carry them, the OpenAPI document shows that same definition. What one field's schema cannot say (how
fields relate, and values no video can reach) is said here. The CLI, the API and the worker all call
``check_options``; the stages read ``merge_options``.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import TYPE_CHECKING, Any

from streamapp import events
from streamapp.errors import InputError

if TYPE_CHECKING:  # loaded with the first check (events.py says why)
    from jsonschema import Draft202012Validator

# No source is this long (a week); a time past it is a mistake, and 1e307 would overflow in the stages.
LONGEST_TIME_S = 7 * 24 * 3600.0
# The option names that the settings give defaults for; the others are absent unless a job sets them.
DEFAULTED = ("max_clips", "min_duration_s", "max_duration_s", "aspect")


@functools.cache
def options_schema() -> dict[str, Any]:
    """The options' JSON Schema, standalone: schemas/common.schema.json's ``$defs/options`` with the
    definitions it refers to inlined (for the OpenAPI document and for validation)."""
    return events.standalone_schema("common", "$defs", "options")


def request_options_schema() -> dict[str, Any]:
    """The options as a request may send them (the API, the CLI): like ``options_schema`` but any option may be
    null, meaning unset (the default applies). ``check_options`` drops the nulls, so events never hold one."""
    schema = copy.deepcopy(options_schema())  # that one is cached: never change it
    schema["properties"] = {name: {"anyOf": [prop, {"type": "null"}]} for name, prop in schema["properties"].items()}
    return schema


# The caption presets a job may name (the schema's enum; tests/test_options.py holds captions/styles.py to it).
CAPTION_STYLES: tuple[str, ...] = tuple(options_schema()["properties"]["caption_style"]["enum"])


@functools.cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(options_schema())


def option_rules(options: dict[str, Any]) -> str | None:
    """What is wrong across fields (or past any video), as one line; None when nothing is."""
    lo, hi = options.get("min_duration_s"), options.get("max_duration_s")
    if lo is not None and hi is not None and lo > hi:
        return f"min_duration_s ({lo:g}) must not exceed max_duration_s ({hi:g})"
    for name in ("range_start_s", "range_end_s"):
        value = options.get(name)
        if value is not None and not (math.isfinite(value) and value <= LONGEST_TIME_S):
            return f"{name} must be at most {LONGEST_TIME_S:g} s (a week)"
    start, end = options.get("range_start_s"), options.get("range_end_s")
    if start is not None and end is not None and start >= end:
        return f"range_start_s ({start:g}) must come before range_end_s ({end:g})"
    return None


def check_options(options: Any) -> dict[str, Any]:
    """The options without unset (None) values, or an InputError (``request_invalid``) naming the problem."""
    if not isinstance(options, dict):
        raise InputError("options must be a JSON object", code="request_invalid")
    options = {k: v for k, v in options.items() if v is not None}
    error = next(iter(sorted(_validator().iter_errors(options), key=lambda e: list(e.path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "options"
        raise InputError(f"options at {where}: {error.message}"[:300], code="request_invalid")
    problem = option_rules(options)
    if problem is not None:
        raise InputError(f"options: {problem}", code="request_invalid")
    return options


def merge_options(defaults: Any, given: dict[str, Any]) -> dict[str, Any]:
    """A job's clip options: its own where given, else the defaults' (Settings, or anything with the
    DEFAULTED attributes). An InputError when the two together break a rule (a job's min_duration_s over
    the default max_duration_s)."""
    options = {name: given.get(name, getattr(defaults, name)) for name in DEFAULTED}
    for name in options_schema()["properties"]:
        if name not in DEFAULTED and name in given:
            options[name] = given[name]
    problem = option_rules(options)
    if problem is not None:
        raise InputError(f"options with the defaults: {problem}", code="request_invalid")
    return options
