"""The fast read paths (kept fragments, fronts, projections) against the plain ones.

Every document is compared with what the schemas give for the same rows built the
straightforward way (``trial_public`` over ``list_trials``, ``project_front`` over
``all_trial_points``), before and after a batch changes the front, on both databases.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from epim import results
from epim.api._fragments import ByteCache, _serialized
from epim.api._schemas import ParetoDocument, ParetoTrial, TrialsPage
from epim.api.routers import studies
from epim.search import StudySpec, normalized_hypervolume
from epim.service import choose_axes, pareto_document, project_front, trial_public
from epim.service._browse import TrialPoints
from epim.settings import Settings
from tests.api.test_api import SPEC

THREE = {**SPEC, "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"},
                                {"metric": "energy_j", "direction": "minimize"}]}


def trial(number: int, area: float, latency: float, energy: float) -> dict[str, Any]:
    feasible = number % 3 != 1
    return {"number": number, "state": "complete", "feasible": feasible,
            "metrics": {"crossbar_area_m2": area, "latency_s": latency, "energy_j": energy,
                        "crossbars": number + 1},
            "constraints": [0.0 if feasible else 1.0], "layers": {"crossbars": [1]},
            "error": None, "design_hash": f"h{number}", "params": {}, "system_attrs": {},
            "design": {"network": "resnet20", "layers": {f"conv{number}": {"epitome_in": 3}}},
            "values": [area], "accuracy_evaluated": False, "node": None, "source": "nsga2",
            "fidelity": None}


def batch(start: int, n: int) -> list[dict[str, Any]]:
    """Trials whose three metrics trade off (a front of several) with some repeats."""
    return [trial(i, area=float((i * 7) % 11 + 1), latency=float((i * 5) % 13 + 1) / 10,
                  energy=float((i * 3) % 7 + 1) * 1e-6) for i in range(start, start + n)]


def store(url: str, study_id: int, trials: list[dict[str, Any]], completed: int,
          hypervolume: float) -> None:
    """Store a batch with the front of every feasible trial so far (on all objectives)."""
    points = [(t.number, t.metrics) for t in results.load_trials(url, study_id)
              if t.feasible] + [(t["number"], t["metrics"]) for t in trials if t["feasible"]]
    axes = choose_axes(THREE, None, None)
    results.record_batch(url, study_id, "me", trials, project_front(points, axes), {
        "completed": completed, "feasible": 0, "failed": 0, "front_size": 0,
        "hypervolume": hypervolume, "elapsed_s": 1.0})


@pytest.fixture
def study(settings: Settings) -> int:
    spec = StudySpec.model_validate(THREE).model_dump(mode="json")
    row = results.create_study(settings.database_url, name="reads", spec=spec, n_trials=100,
                               network="resnet20", status="running", owner="me")
    results.save_baseline(settings.database_url, row.id, "me", {"metrics": {
        "crossbar_area_m2": 12.0, "latency_s": 1.5, "energy_j": 8e-6}})
    store(settings.database_url, row.id, batch(0, 40), 40, 0.25)
    return row.id


def plain_trials(url: str, study_id: int, **query: Any) -> bytes:
    """A trials page as the schemas give it for the rows of ``list_trials``."""
    offset, limit = query.pop("offset", 0), query.pop("limit", 50)
    page = results.list_trials(url, study_id, offset=offset, limit=limit, **query)
    return TrialsPage(items=[trial_public(t) for t in page.items], total=page.total,
                      offset=offset, limit=limit).model_dump_json().encode()


def plain_front(url: str, study_id: int) -> bytes:
    row = results.get_study(url, study_id)
    assert row is not None
    front = results.front_trials(url, study_id)
    return ParetoDocument.model_validate({
        "objectives": choose_axes(row.spec, None, None), "hypervolume": row.hypervolume,
        "trials": [{"number": t.number, "values": t.metrics, "design": t.design}
                   for t in front]}).model_dump_json().encode()


def plain_projection(url: str, study_id: int, x: str, y: str) -> tuple[list[int], float]:
    row = results.get_study(url, study_id)
    assert row is not None
    axes = choose_axes(row.spec, x, y)
    points = [(n, m) for n, f, m in results.all_trial_points(url, study_id) if f]
    numbers = sorted(project_front(points, axes))
    metrics = {n: m for n, m in points}
    hypervolume = normalized_hypervolume(
        [[metrics[n][a["metric"]] for a in axes] for n in numbers],
        [a["metric"] for a in axes], [a["direction"] for a in axes],
        (row.baseline or {}).get("metrics", {}))
    return numbers, hypervolume


QUERIES: list[dict[str, Any]] = [
    {}, {"offset": 7, "limit": 9}, {"sort": "latency_s"},
    {"sort": "energy_j", "descending": True, "limit": 13, "offset": 3},
    {"feasible": True, "sort": "crossbar_area_m2"}, {"feasible": False, "descending": True}]


def params(query: dict[str, Any]) -> dict[str, Any]:
    found = {k: v for k, v in query.items() if k != "descending"}
    if query.get("descending"):
        found["order"] = "desc"
    if "feasible" in found:
        found["feasible"] = str(found["feasible"]).lower()
    return found


def check_all(client: TestClient, url: str, study_id: int) -> None:
    for query in QUERIES:
        response = client.get(f"/studies/{study_id}/trials", params=params(query))
        assert response.status_code == 200
        assert response.content == plain_trials(url, study_id, **query), query
    assert client.get(f"/studies/{study_id}/pareto").content == plain_front(url, study_id)
    for x, y in (("latency_s", "energy_j"), ("energy_j", "crossbar_area_m2")):
        document = client.get(f"/studies/{study_id}/pareto", params={"x": x, "y": y}).json()
        numbers, hypervolume = plain_projection(url, study_id, x, y)
        assert [t["number"] for t in document["trials"]] == numbers
        assert [o["metric"] for o in document["objectives"]] == [x, y]
        assert math.isclose(document["hypervolume"], hypervolume, rel_tol=1e-12)
        assert all(t["values"]["crossbars"] == t["number"] + 1 for t in document["trials"])
        row = results.get_study(url, study_id)
        assert row is not None  # `epim study pareto --axes x,y` prints the same document
        assert pareto_document(url, row, x, y).model_dump(mode="json") == document


def test_documents_equal_the_plain_paths_before_and_after_a_batch(
        client: TestClient, settings: Settings, study: int) -> None:
    url = settings.database_url
    check_all(client, url, study)
    front_before = client.get(f"/studies/{study}/pareto").json()["trials"]
    projected_before = client.get(f"/studies/{study}/pareto",
                                  params={"x": "latency_s", "y": "energy_j"}).json()
    # A batch that dominates part of the front: flags, fronts and projections move.
    better = [trial(40 + i, area=0.5 + i, latency=0.05 / (i + 1), energy=1e-7 * (i + 1))
              for i in range(4)]
    store(url, study, better, 44, 0.75)
    check_all(client, url, study)
    front_after = client.get(f"/studies/{study}/pareto").json()
    assert front_after["hypervolume"] == 0.75 and front_after["trials"] != front_before
    projected = client.get(f"/studies/{study}/pareto",
                           params={"x": "latency_s", "y": "energy_j"}).json()
    assert projected != projected_before
    assert {t["number"] for t in projected["trials"]} & {41, 42}  # the feasible new ones
    assert client.get(f"/studies/{study}/trials", params={"limit": 1}).json()["total"] == 44


def test_pages_past_the_byte_cap_end_early_and_link_the_next(
        client: TestClient, settings: Settings, study: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    last = client.get(f"/studies/{study}/trials", params={"offset": 30, "limit": 50})
    assert "link" not in last.headers  # 10 trials left: one page, no next
    first = client.get(f"/studies/{study}/trials", params={"limit": 30})
    assert first.headers["link"] == f'</studies/{study}/trials?limit=30&offset=30>; rel="next"'
    one = len(client.get(f"/studies/{study}/trials", params={"limit": 1}).content)
    monkeypatch.setattr(studies, "MAX_PAGE_BYTES", 3 * one)
    seen: list[int] = []
    path: str | None = f"/studies/{study}/trials?limit=20&sort=latency_s&order=desc"
    pages = 0
    while path is not None:
        response = client.get(path)
        page = response.json()
        assert page["total"] == 40 and page["limit"] == 20 and page["offset"] == len(seen)
        assert 1 <= len(page["items"]) < 20  # capped by bytes, not by count
        assert len(response.content) <= 3 * one + 200  # the cap, and the page's own fields
        seen += [t["number"] for t in page["items"]]
        link = response.headers.get("link")
        if link is None:
            path = None
        else:
            found = re.fullmatch(r'<([^>]+)>; rel="next"', link)
            assert found is not None
            path = found.group(1)
            assert "sort=latency_s" in path and "order=desc" in path
        pages += 1
    expected = [t.number for t in results.list_trials(settings.database_url, study, limit=100,
                                                      sort="latency_s", descending=True).items]
    assert seen == expected and pages > 2
    monkeypatch.setattr(studies, "MAX_PAGE_BYTES", 1)
    single = client.get(f"/studies/{study}/trials", params={"limit": 5}).json()
    assert len(single["items"]) == 1  # a trial larger than the cap still comes, alone


def test_byte_cache_is_bounded_and_keeps_the_recently_used() -> None:
    cache = ByteCache(100)
    for i in range(10):
        cache.put(i, (b"x" * 30,))
        cache.get(0)  # used each time: never the least recently used
    assert cache.nbytes <= 100 and cache.get(0) is not None
    assert cache.get(1) is None and cache.get(9) is not None
    cache.put("huge", (b"y" * 101,))  # larger than the bound: not kept, nothing dropped
    assert cache.get("huge") is None and cache.get(9) is not None
    cache.put(9, (b"z",))
    assert cache.get(9) == (b"z",) and cache.nbytes == 60 + 1


def test_points_read_in_parts_project_as_the_plain_path() -> None:
    rows: list[tuple[int, int, bool, dict[str, Any]]] = [
        (i + 1, i, i % 4 != 0, {"a": float((i * 7) % 11), "b": float((i * 5) % 13),
                                **({"c": float(i % 3)} if i >= 20 else {})})
        for i in range(40)]
    rows[5][3]["b"] = None  # no number: not a point on b
    whole = TrialPoints.of(rows)
    parts = TrialPoints.of(rows[25:], TrialPoints.of(rows[:25]))
    plain_points = [(n, {k: v for k, v in m.items() if v is not None})
                    for _, n, f, m in rows if f]
    for axes in ([{"metric": "a", "direction": "minimize"},
                  {"metric": "b", "direction": "maximize"}],
                 [{"metric": "c", "direction": "minimize"},
                  {"metric": "a", "direction": "minimize"}],
                 [{"metric": "missing", "direction": "minimize"}]):
        expected = sorted(project_front(plain_points, axes))
        for points in (whole, parts):
            numbers, values = points.front(axes)
            assert numbers == expected
            assert values.tolist() == [[plain_points[[n for n, _ in plain_points].index(k)][1]
                                        [a["metric"]] for a in axes] for k in numbers]
    assert parts.max_id == 40 and parts.nbytes == whole.nbytes


def test_one_serialization_splits_into_each_trials_own_json() -> None:
    adapter: TypeAdapter[list[Any]] = TypeAdapter(list[ParetoTrial])
    plain = [ParetoTrial(number=i, values={"a": i / 3}, design={"layers": {"x": i}})
             for i in range(4)]
    tricky = [*plain[:2], ParetoTrial(number=9, values={}, design={
        "probes": [{"number": 1}, {"number": 2}]})]  # the boundary inside a design
    for items in (plain, plain[:1], tricky):
        assert _serialized(adapter, items) == [t.model_dump_json().encode() for t in items]
