"""The job's states, stages and priorities are named once (streamapp/job.py); everything else agrees."""

import json
import re
from pathlib import Path

from streamapp.api.openapi import openapi_document
from streamapp.app import jobs
from streamapp.job import PRIORITIES, STATES, TERMINAL, WORK_STAGES, Priority, Stage, State

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "streamapp" / "web" / "static"


def _schema(name: str) -> dict:
    return json.loads((ROOT / "schemas" / name).read_text())


def test_event_schemas_name_the_same_states_stages_and_priorities():
    status = _schema("job_status.schema.json")["properties"]
    assert status["state"]["enum"] == [s.value for s in State]
    assert status["stage"]["enum"] == [s.value for s in Stage]
    assert _schema("common.schema.json")["$defs"]["priority"]["enum"] == [p.value for p in Priority]


def test_openapi_names_the_same_states_stages_and_priorities():
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["Priority"]["enum"] == list(PRIORITIES)
    job = next(s for s in schemas.values() if "stage" in s.get("properties", {}))
    assert job["properties"]["state"]["enum"] == list(STATES)
    assert job["properties"]["stage"]["enum"] == list(Stage)


def test_the_page_shows_the_work_stages_and_offers_the_priorities():
    script = (STATIC / "app.js").read_text()
    stages = re.search(r"const STAGES = \[([^\]]*)\]", script)
    assert stages and re.findall(r'"(\w+)"', stages.group(1)) == list(WORK_STAGES)
    page = (STATIC / "index.html").read_text()
    select = re.search(r'<select id="submit-priority".*?</select>', page, re.S)
    assert select and re.findall(r'<option value="(\w+)"', select.group(0)) == list(PRIORITIES)
    for state in State:  # every state has its badge colour or the default one
        assert state.value in (STATIC / "style.css").read_text() or state in (State.QUEUED, State.DONE, State.FAILED)


def test_states_move_forward_and_end_in_done_or_failed():
    ranks = [s.rank for s in STATES]
    assert ranks == sorted(ranks) and State.DONE.rank == State.FAILED.rank == max(ranks)
    assert {s for s in State if s.terminal} == TERMINAL == {State.DONE, State.FAILED}
    # Records hold plain strings: the members compare and hash as those strings.
    assert jobs.RANK["scoring"] == 2 and "done" in jobs.TERMINAL and jobs.STAGE_OF_STATE["exporting"] == "export"
    assert Priority.HIGH.rank < Priority.NORMAL.rank < Priority.LOW.rank
