"""schemathesis against the app's own OpenAPI schema, and hostile networks, designs and queries
built by hypothesis: generated requests never get a 5xx (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from epim import results
from epim.api import create_app
from epim.search import StudySpec
from epim.service import run_study_here
from tests.api.conftest import make_settings

#: Per generation mode (valid requests, and invalid ones); ``EPIM_FUZZ_EXAMPLES`` asks for
#: more in a longer run (the counts below scale with it).
EXAMPLES_PER_OPERATION = int(os.environ.get("EPIM_FUZZ_EXAMPLES", "40"))
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


#: Text of any code point: NUL, lone surrogates and the rest (hypothesis leaves surrogates out
#: unless asked).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=120)
NAMES = st.one_of(st.sampled_from(["c", "layer1.0.conv1", "x" * 101]), ANY_TEXT)
SIZES = st.one_of(st.integers(-1, 9), st.integers(0, 2**64), st.sampled_from([2**31, 2**28]))
RATIOS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-1, 2**70),
                   ANY_TEXT, st.booleans())
HOSTILE_EXAMPLES = EXAMPLES_PER_OPERATION * 3 // 2


@st.composite
def hostile_network(draw: st.DrawFn) -> dict[str, Any]:
    """An inline network of the file format with hostile names, sizes and strides."""
    conv: dict[str, Any] = {"name": draw(NAMES), "type": "conv",
                            "out_channels": draw(st.one_of(st.integers(1, 64), SIZES)),
                            "kernel_size": draw(st.one_of(st.integers(1, 5), SIZES))}
    for field in draw(st.sets(st.sampled_from(["stride", "padding", "dilation", "groups"]))):
        conv[field] = draw(st.one_of(SIZES, st.lists(SIZES, min_size=2, max_size=2)))
    return {"name": draw(NAMES), "input": [3, draw(st.integers(1, 64)), 16],
            "layers": [conv, {"name": draw(NAMES), "type": "linear", "out_features": 10}]}


def test_hostile_networks_and_designs_never_get_a_server_error(app: Any) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    calls: Counter[int] = Counter()

    def post(path: str, body: dict[str, Any]) -> None:
        response = client.post(path, content=json.dumps(body),
                               headers={"content-type": "application/json"})
        calls[response.status_code] += 1
        assert response.status_code < 500, (path, body, response.text[:300])

    @settings(max_examples=HOSTILE_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(network=hostile_network(), name=st.one_of(st.just("fuzz"), ANY_TEXT))
    def studies(network: dict[str, Any], name: str) -> None:
        post("/studies", {"name": name, "network": network, "budget": {"n_trials": 5},
                          "objectives": [{"metric": "latency_s"}]})
        post("/evaluate", {"network": network})

    @settings(max_examples=HOSTILE_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(layer=NAMES, field=st.sampled_from(["in_ratio", "out_ratio", "epitome_in",
                                              "epitome_h", "channel_offsets", "weight_bits"]),
           value=RATIOS, query=ANY_TEXT)
    def designs(layer: str, field: str, value: Any, query: str) -> None:
        post("/evaluate", {"network": "resnet20", "design": {"layers": {layer: {field: value}}}})
        post("/evaluate", {"network": "resnet20", "design": {"default": {field: value}}})
        # surrogates percent-encoded as their (invalid UTF-8) bytes, as a raw client may
        encoded = quote(query[:200], safe="", errors="surrogatepass")
        response = client.get(f"/studies?name={encoded}")
        calls[response.status_code] += 1
        assert response.status_code < 500, (query, response.text[:300])

    studies()
    designs()
    total = sum(calls.values())
    assert total >= 4 * HOSTILE_EXAMPLES and calls[422] > 0, calls
    print(f"hostile: {total} requests, status codes {dict(sorted(calls.items()))}, no 5xx")
