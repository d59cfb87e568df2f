"""One way in: ``submit()`` behind ``POST /studies`` and ``epim study run``; the stored spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from epim import results
from epim.errors import InputError
from epim.search import StudySpec
from epim.service import (
    QueueFullError,
    canonical_spec,
    run_study_here,
    stored_spec,
    submit,
)
from tests.service.test_runner import COST_SPEC


def spec(name: str, **changes: Any) -> StudySpec:
    return StudySpec.model_validate({**COST_SPEC, "name": name, **changes})


@pytest.fixture
def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path / 'submit.db'}"
    results.upgrade(database)
    return database


def test_submit_checks_stores_and_names_duplicates(url: str) -> None:
    first = submit(url, spec("twice"))
    again = submit(url, spec("twice"))
    assert first.duplicate_of is None and again.duplicate_of == first.row.id
    assert again.row.id != first.row.id and again.row.status == "queued"
    assert again.row.spec == canonical_spec(spec("twice")) and again.row.network == "resnet20"
    with pytest.raises(QueueFullError, match="2 studies are already queued"):
        submit(url, spec("third"), max_queued=2)
    with pytest.raises(InputError) as raised:  # resolved as a runner would, before storing
        submit(url, spec("bad", hardware={"preset": "mnsim", "set": {"xbar_rows": -2}}))
    assert raised.value.location[:2] == ("hardware", "set")
    assert results.count_studies(url) == 2


def test_the_cli_stores_what_the_api_stores(url: str) -> None:
    queued = submit(url, spec("same")).row
    done = run_study_here(spec("ran"), url)
    assert done.status == "completed" and done.completed == COST_SPEC["budget"]["n_trials"]
    assert {k: v for k, v in done.spec.items() if k != "name"} == {
        k: v for k, v in queued.spec.items() if k != "name"}
    assert done.network == queued.network


def test_the_stored_spec_is_parsed_once(url: str) -> None:
    row = submit(url, spec("kept")).row
    again = results.get_study(url, row.id)
    assert again is not None
    assert stored_spec(row) is stored_spec(again)  # one parse per stored spec
    assert stored_spec(row) == spec("kept")
