"""Job options: checked once (schema + rules across fields) for the CLI, the API and the worker."""

from types import SimpleNamespace

import pytest

from streamapp.errors import InputError
from streamapp.options import check_options, merge_options, options_schema

DEFAULTS = SimpleNamespace(max_clips=5, min_duration_s=15.0, max_duration_s=60.0, aspect="9:16")


@pytest.mark.parametrize(("options", "says"), [
    ({"min_duration_s": 30, "max_duration_s": 10}, "must not exceed"),
    ({"range_start_s": 1e307}, "at most"),
    ({"range_start_s": 50, "range_end_s": 20}, "must come before"),
    ({"range_start_s": 20, "range_end_s": 20}, "must come before"),
    ({"aspect": "3:2"}, "options at aspect"),
    ({"caption_style": "neon"}, "options at caption_style"),
    ({"max_clip": 3}, "Additional properties"),
])
def test_bad_options_are_refused_in_one_line(options, says):
    with pytest.raises(InputError) as caught:
        check_options(options)
    assert caught.value.code == "request_invalid" and says in caught.value.message
    assert "\n" not in caught.value.message


def test_good_options_pass_without_unset_values():
    given = {"max_clips": 3, "min_duration_s": None, "range_start_s": 5.0, "range_end_s": 65.0,
             "caption_style": "karaoke", "captions": False, "keywords": ["sunlight"]}
    assert check_options(given) == {k: v for k, v in given.items() if v is not None}


def test_merge_fills_defaults_and_refuses_a_clash_with_them():
    merged = merge_options(DEFAULTS, {"max_clips": 2, "keywords": ["x"]})
    assert merged == {"max_clips": 2, "min_duration_s": 15.0, "max_duration_s": 60.0, "aspect": "9:16",
                      "keywords": ["x"]}
    with pytest.raises(InputError, match="with the defaults: min_duration_s"):
        merge_options(DEFAULTS, {"min_duration_s": 90})


def test_the_schema_is_standalone_for_openapi():
    schema = options_schema()
    assert "$ref" not in str(schema)  # inlined: the OpenAPI document has no $defs of the event schemas
    assert schema["properties"]["aspect"]["enum"] == ["9:16", "1:1", "4:5", "16:9"]
    assert "caption_style" in schema["properties"] and schema["additionalProperties"] is False


def test_caption_styles_named_by_the_schema_are_the_presets_drawn():
    from streamapp.captions.styles import PRESETS
    from streamapp.options import CAPTION_STYLES

    assert set(CAPTION_STYLES) == set(PRESETS)


def test_a_request_may_send_null_for_an_option_and_the_event_never_holds_it():
    from streamapp.options import request_options_schema

    schema = request_options_schema()
    assert {"type": "null"} in schema["properties"]["max_clips"]["anyOf"]
    assert check_options({"max_clips": None, "aspect": "1:1"}) == {"aspect": "1:1"}
