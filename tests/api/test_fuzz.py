"""schemathesis against the app's own OpenAPI schema: generated requests never get a 5xx."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from epim import results
from epim.api import create_app
from epim.search import StudySpec
from epim.service import run_study_here
from tests.api.conftest import make_settings

EXAMPLES_PER_OPERATION = 40  # per generation mode: valid requests, and invalid ones
MIN_REQUESTS = 1000


@pytest.fixture
def app(database_url: str) -> Iterator[Any]:
    """The app on a database holding one finished study (so some paths find something)."""
    results.upgrade(database_url)
    run_study_here(StudySpec.model_validate({
        "name": "fuzzed", "network": "resnet20",
        "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"}],
        "sampler": {"name": "random", "seed": 0}, "budget": {"n_trials": 10}}), database_url)
    yield create_app(make_settings(database_url, max_queued=20))


def test_generated_requests_never_get_a_server_error(app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    calls: Counter[str] = Counter()
    failures: list[str] = []

    def fuzz(operation: Any, mode: schemathesis.GenerationMode) -> None:
        label = f"{operation.label} ({mode.value})"

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=operation.as_strategy(mode))
        def check(case: Any) -> None:
            response = case.call()
            calls[label] += 1
            if response.status_code >= 500:
                failures.append(f"{label} -> {response.status_code}: {response.text[:300]} "
                                f"({case.path_parameters}, {case.query}, "
                                f"{str(case.body)[:300]})")

        try:
            check()
        except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
            assert mode is schemathesis.GenerationMode.NEGATIVE, label

    for operation in operations:
        for mode in schemathesis.GenerationMode:
            fuzz(operation, mode)

    total = sum(calls.values())
    assert not failures, "\n".join(failures[:10])
    assert total >= MIN_REQUESTS, calls
    print(f"schemathesis: {total} requests over {len(operations)} operations, no 5xx")
