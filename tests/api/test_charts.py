"""The study's chart as SVG and PDF, the references before a run, the compare picker."""

from __future__ import annotations

import itertools
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from epim.api._chart import draw_pareto
from epim.api._figure import nice_ticks, unit_for
from epim.metrics import REGISTRY, metric_table
from epim.settings import Settings
from tests.api.test_api import SPEC, run_queue

SVG = "{http://www.w3.org/2000/svg}"
STATIC = Path(__file__).resolve().parents[2] / "epim" / "api" / "static"


def _svg_texts(svg: str, kind: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter(f"{SVG}text") if kind in (t.get("class") or "")]


def _pdf_texts(pdf: bytes) -> list[str]:
    """Every string the PDF's content stream shows (``(...) Tj``), decoded from WinAnsi."""
    strings = re.findall(rb"\(((?:[^()\\]|\\.)*)\) Tj", pdf)
    return [re.sub(rb"\\(.)", rb"\1", s).decode("cp1252") for s in strings]


def _check_pdf_structure(pdf: bytes) -> None:
    """The cross-reference table points at each object; the stream length is right."""
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.rstrip().endswith(b"%%EOF")
    xref = int(pdf.rsplit(b"startxref", 1)[1].split()[0])
    assert pdf[xref:xref + 4] == b"xref"
    lines = pdf[xref:].split(b"\n")
    count = int(lines[1].split()[1])
    for number, entry in enumerate(lines[3:3 + count - 1], start=1):
        offset = int(entry.split()[0])
        assert pdf[offset:].startswith(b"%d 0 obj" % number)
    length = int(re.search(rb"/Length (\d+)", pdf).group(1))  # type: ignore[union-attr]
    start = pdf.index(b"stream\n") + len(b"stream\n")
    assert pdf[start + length:start + length + 10] == b"\nendstream"


@pytest.fixture
def finished(client: TestClient, settings: Settings) -> int:
    spec = {**SPEC, "name": "charts",
            "sampler": {"name": "nsga2", "seed": 2, "population_size": 10,
                        "warm_start": True}}
    study_id = int(client.post("/studies", json=spec).json()["id"])
    before = client.get(f"/studies/{study_id}/references").json()
    run_queue(settings)
    after = client.get(f"/studies/{study_id}/references").json()
    # known from the spec before the run stores its baseline, and the same after
    assert client.get(f"/studies/{study_id}").json()["baseline"] is not None
    assert before["dense"]["label"] == after["dense"]["label"] == "dense 16-bit"
    for metric, value in after["dense"]["metrics"].items():
        assert before["dense"]["metrics"][metric] == pytest.approx(value, rel=1e-12), metric
    assert len(before["uniform"]) == len(after["uniform"]) > 0
    for a, b in zip(before["uniform"], after["uniform"], strict=True):
        assert a["design"] == b["design"]
        assert a["metrics"]["crossbars"] == b["metrics"]["crossbars"]
    return study_id


def test_chart_svg_and_pdf_show_units_grid_front_and_references(
        client: TestClient, finished: int) -> None:
    response = client.get(f"/studies/{finished}/pareto.svg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/svg+xml"
    svg = response.text
    root = ET.fromstring(svg)
    assert _svg_texts(svg, "x-label") == ["crossbar area (mm²)"]
    assert _svg_texts(svg, "y-label") == ["latency (ms)"]
    ticks = [float(t) for t in _svg_texts(svg, "x-tick")]
    assert len(ticks) >= 3 and ticks == sorted(ticks)
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1  # evenly spaced round values
    shapes = list(root.iter())
    kinds = [s.get("class") or "" for s in shapes]
    assert kinds.count("grid") == len(ticks) + len(_svg_texts(svg, "y-tick"))
    trials = client.get(f"/studies/{finished}/trials", params={"limit": 100}).json()["items"]
    front = client.get(f"/studies/{finished}/pareto",
                       params={"x": "crossbar_area_m2", "y": "latency_s"}).json()["trials"]
    assert kinds.count("front") == len(front) > 0
    assert kinds.count("infeasible") == sum(not t["feasible"] for t in trials)
    assert kinds.count("feasible") == sum(t["feasible"] for t in trials) - len(front)
    refs = client.get(f"/studies/{finished}/references").json()
    assert kinds.count("ref uniform") == len(refs["uniform"])
    assert kinds.count("ref dense") == 1
    # the dense design is about 4x the largest: pinned, with an arrow and its values
    label = _svg_texts(svg, "off-scale-label")
    assert label and "dense 16-bit off the chart" in label[0] and "mm²" in label[0]
    assert "grey = infeasible" in _svg_texts(svg, "legend")

    pdf = client.get(f"/studies/{finished}/pareto.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    _check_pdf_structure(pdf.content)
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert _pdf_texts(pdf.content) == texts  # one figure, two writers
    assert b"/MediaBox [0 0 720 480]" in pdf.content


def test_chart_takes_any_metric_as_an_axis(client: TestClient, finished: int) -> None:
    svg = client.get(f"/studies/{finished}/pareto.svg",
                     params={"x": "energy_j", "y": "accuracy_drop"})
    assert svg.status_code == 200  # no trial has accuracy here: an empty chart, said so
    assert "no completed trials yet" in svg.text
    svg = client.get(f"/studies/{finished}/pareto.svg", params={"x": "energy_j"}).text
    assert _svg_texts(svg, "x-label") == ["energy (µJ)"]
    assert _svg_texts(svg, "y-label") == ["crossbar area (mm²)"]  # the first objective
    bad = client.get(f"/studies/{finished}/pareto.pdf", params={"x": "watts"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "x"]


def test_error_bars_span_one_standard_error() -> None:
    points = [(i, True, {"latency_s": 1e-3 * (i + 1), "accuracy": 0.5 + 0.1 * i,
                         "accuracy_se": 0.01 * (i + 1)}) for i in range(3)]
    x = {"metric": "latency_s", "direction": "minimize"}
    y = {"metric": "accuracy", "direction": "maximize"}
    figure = draw_pareto(points, [0, 1, 2], x, y, {"dense": None, "uniform": []}, "t")
    bars = [s for s in figure.items if getattr(s, "kind", "") == "error-bar"]
    assert len(bars) == 3 * len(points)  # a bar and two caps each
    vertical = [s for s in bars if s.points[0][0] == s.points[1][0]]  # type: ignore[union-attr]
    lengths = sorted(abs(s.points[0][1] - s.points[1][1]) for s in vertical)  # type: ignore[union-attr]
    # pixels per accuracy unit from two points' centres
    dots = [s for s in figure.items if getattr(s, "kind", "") == "front"]
    (_, y0), = dots[0].points  # type: ignore[union-attr]
    (_, y2), = dots[2].points  # type: ignore[union-attr]
    scale = abs(y2 - y0) / 0.2
    assert lengths == pytest.approx([2 * 0.01 * scale, 2 * 0.02 * scale, 2 * 0.03 * scale],
                                    rel=1e-9)
    assert "±1 standard error" in figure.svg()


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 1.0), (3.7, 4.2), (41.0, 443.0), (1e-3, 2e-3),
                                        (5.0, 5.0), (-2.5, 7.25)])
def test_ticks_are_round_and_cover_the_range(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi)
    assert ticks.lo <= lo and ticks.hi >= hi and 3 <= len(ticks.values) <= 9
    step = ticks.values[1] - ticks.values[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m, rel_tol=1e-9) for m in (1, 2, 2.5, 5, 10))
    labels = [ticks.label(v) for v in ticks.values]
    assert len(set(labels)) == len(labels)  # enough decimals to tell them apart
    assert all(float(label) == pytest.approx(v, abs=1e-9) for label, v in
               zip(labels, ticks.values, strict=True))


def test_units_take_si_prefixes() -> None:
    assert unit_for("crossbar_area_m2", [4.4e-4]).symbol == "mm²"
    assert unit_for("latency_s", [0.019, 0.004]).symbol == "ms"
    assert unit_for("energy_j", [1.1e-3]).symbol == "mJ"
    assert unit_for("energy_j", [5.7e-5]).symbol == "µJ"
    assert unit_for("accuracy", [0.9]).symbol == "%"
    assert unit_for("edp", [2e-8]).symbol == "nJ·s"


def test_compare_without_studies_offers_a_picker(client: TestClient) -> None:
    empty = client.get("/ui/compare")
    assert empty.status_code == 200 and "needs two studies" in empty.text
    ids = [int(client.post("/studies", json={**SPEC, "name": f"pick-{i}"}).json()["id"])
           for i in range(3)]
    page = client.get("/ui/compare")
    assert page.status_code == 200 and 'id="pick"' in page.text
    for name in ("a", "b"):
        select = re.search(rf'<select name="{name}".*?</select>', page.text, re.S)
        assert select is not None
        assert sorted(int(v) for v in re.findall(r'value="(\d+)"', select.group(0))) == ids
    chosen = client.get("/ui/compare", params={"a": ids[1]}).text
    a = re.search(r'<select name="a".*?</select>', chosen, re.S).group(0)  # type: ignore[union-attr]
    b = re.search(r'<select name="b".*?</select>', chosen, re.S).group(0)  # type: ignore[union-attr]
    assert re.search(rf'value="{ids[1]}" selected', a)
    picked_b = re.search(r'value="(\d+)" selected', b)
    assert picked_b is not None and int(picked_b.group(1)) in ids and \
        int(picked_b.group(1)) != ids[1]
    assert client.get("/ui/compare", params={"b": 99999}).status_code == 404


def test_the_explorer_takes_labels_and_units_from_the_registry_on_the_page(
        client: TestClient) -> None:
    ids = [int(client.post("/studies", json={**SPEC, "name": f"page-{i}"}).json()["id"])
           for i in range(2)]
    for page in (f"/ui/studies/{ids[0]}", f"/ui/compare?a={ids[0]}&b={ids[1]}"):
        text = client.get(page).text
        block = re.search(r'<script type="application/json" id="metric-registry">(.*?)'
                          r"</script>", text, re.S)
        assert block is not None, page
        assert json.loads(block.group(1)) == metric_table()
    chart = (STATIC / "chart.js").read_text()
    assert 'getElementById("metric-registry")' in chart
    for script in STATIC.glob("*.js"):  # no second table of labels or quantities
        code = script.read_text()
        for name, info in REGISTRY.items():
            if info.label != name:
                assert f'"{info.label}"' not in code, (script.name, info.label)
        assert not re.search(r'\b(accuracy|latency_s|energy_j|crossbar_area_m2)\s*:\s*\[', code)
