"""Browsing a finished study: design files, models, references, history, DataFrame, pages."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from epim import results
from epim.cli import app as cli_app
from epim.nn import load
from epim.service import prepared_study
from epim.settings import Settings
from epim.space import design_from_dict
from epim.workloads import get_network
from tests.api.test_api import SPEC, run_queue

BROWSE_SPEC = {**SPEC, "name": "browse", "sampler": {"name": "nsga2", "seed": 1,
                                                      "population_size": 10,
                                                      "warm_start": True}}


@pytest.fixture
def finished(client: TestClient, settings: Settings) -> int:
    study_id = int(client.post("/studies", json=BROWSE_SPEC).json()["id"])
    run_queue(settings)
    assert client.get(f"/studies/{study_id}").json()["status"] == "completed"
    return study_id


def test_design_file_round_trips_through_epim_cost(client: TestClient, finished: int,
                                                   tmp_path: Path) -> None:
    front = client.get(f"/studies/{finished}/pareto").json()["trials"]
    trial = client.get(f"/studies/{finished}/trials/{front[0]['number']}").json()
    response = client.get(f"/studies/{finished}/trials/{trial['number']}/design")
    assert response.status_code == 200 and "yaml" in response.headers["content-type"]
    assert "attachment" in response.headers["content-disposition"]
    document = yaml.safe_load(response.text)
    assert document["network"] == "resnet20" and document == trial["design"]
    as_json = client.get(f"/studies/{finished}/trials/{trial['number']}/design",
                         params={"format": "json"}).json()
    assert as_json == document
    path = tmp_path / "chosen.yaml"
    path.write_text(response.text)
    result = CliRunner().invoke(cli_app, ["cost", "--network", "resnet20", "--design",
                                          str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["crossbars"] == trial["values"]["crossbars"]
    assert report["latency_s"] == pytest.approx(trial["values"]["latency_s"], rel=1e-9)
    bad = client.get(f"/studies/{finished}/trials/{trial['number']}/design",
                     params={"format": "xml"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "format"]
    assert client.get(f"/studies/{finished}/trials/9999/design").status_code == 404


def test_model_download_loads_and_trains(client: TestClient, finished: int,
                                         tmp_path: Path) -> None:
    number = client.get(f"/studies/{finished}/pareto").json()["trials"][-1]["number"]
    response = client.get(f"/studies/{finished}/trials/{number}/model")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    payload = torch.load(io.BytesIO(response.content), weights_only=True)  # tensors, no code
    assert payload["config"]["trial"] == number and payload["format"] == "epim-model/1"
    path = tmp_path / "model.pt"
    path.write_bytes(response.content)
    model = load(path, device="cpu")
    design = client.get(f"/studies/{finished}/trials/{number}").json()["design"]
    network = get_network("resnet20")
    stored = sum(c["epitome_in"] * c["epitome_out"] * c["epitome_h"] * c["epitome_w"]
                 for c in design["layers"].values())
    epitomes = sum(p.numel() for name, p in model.named_parameters()
                   if name.endswith("epitome"))
    assert epitomes == stored
    channels, height, width = network.input_shape
    batch = torch.randn(4, channels, height, width)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    loss = model(batch).logsumexp(dim=1).mean()
    loss.backward()
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_trial_detail_has_stored_and_dense_shapes(client: TestClient, finished: int) -> None:
    number = client.get(f"/studies/{finished}/pareto").json()["trials"][0]["number"]
    detail = client.get(f"/studies/{finished}/trials/{number}").json()
    compute = [layer for layer in detail["layers"] if layer["epitome_in"] is not None]
    network = get_network("resnet20")
    assert [layer["name"] for layer in compute] == [x.name for x in network.compute_layers]
    for layer, spec in zip(compute, network.compute_layers, strict=True):
        cout, cin_g, _, _ = spec.weight_shape
        assert (layer["in_channels"], layer["out_channels"]) == (cin_g, cout)
        choice = detail["design"]["layers"][layer["name"]]
        assert layer["epitome_out"] == choice["epitome_out"]
        kept = (choice["epitome_in"] * choice["epitome_out"] * choice["epitome_h"]
                * choice["epitome_w"]) / spec.params
        assert layer["stored_fraction"] == pytest.approx(kept, rel=1e-12)
        assert 0 < layer["stored_fraction"] <= 1
        assert layer["operator"] == ("epitome" if kept < 1 else "dense")  # an epitome study
    assert any(layer["stored_fraction"] < 1 for layer in compute)  # a 3x-reduced design


def test_references_are_costed_with_the_studys_model(client: TestClient, finished: int,
                                                     settings: Settings) -> None:
    refs = client.get(f"/studies/{finished}/references").json()
    study = client.get(f"/studies/{finished}").json()
    assert refs["dense"]["metrics"]["crossbars"] == study["baseline"]["crossbars"]
    assert refs["dense"]["label"] == "dense 16-bit"
    row = results.get_study(settings.database_url, finished)
    assert row is not None
    space = prepared_study(row).space
    assert len(refs["uniform"]) == len(space.uniform_choices())
    for ref in refs["uniform"]:
        design = design_from_dict(ref["design"], get_network("resnet20"))
        layers = list(design.layers.values())
        searched = [c for name, c in design.layers.items() if name not in ("conv1", "fc")]
        assert len({c.weight_bits for c in searched}) == 1  # uniform: one bit-width
        assert ref["metrics"]["crossbar_area_reduction"] == pytest.approx(
            study["baseline"]["crossbar_area_m2"] / ref["metrics"]["crossbar_area_m2"])
        assert len(layers) == len(get_network("resnet20").compute_layers)
    # warm-started: the uniform designs were trials too, and say which
    evaluated = [r for r in refs["uniform"] if r["trial"] is not None]
    assert evaluated
    for ref in evaluated:
        trial = client.get(f"/studies/{finished}/trials/{ref['trial']}").json()
        assert trial["design"] == ref["design"]
        assert ref["metrics"]["crossbars"] == trial["values"]["crossbars"]
    # fewer bits at the same channel rank: fewer crossbars
    by_rank: dict[int, list[tuple[int, float]]] = {}
    for ref in refs["uniform"]:
        by_rank.setdefault(ref["rank"], []).append((ref["weight_bits"],
                                                    ref["metrics"]["crossbars"]))
    for pairs in by_rank.values():
        counts = [c for _, c in sorted(pairs)]
        assert counts == sorted(counts)


def test_history_ends_at_the_studys_counters(client: TestClient, finished: int) -> None:
    history = client.get(f"/studies/{finished}/history").json()
    study = client.get(f"/studies/{finished}").json()
    completed = [h["completed"] for h in history]
    assert completed == sorted(completed) and completed[-1] == 30
    assert history[-1]["hypervolume"] == pytest.approx(study["hypervolume"])
    assert all(0 <= h["hypervolume"] <= 1 for h in history)


def test_dataframe_and_csv_hold_every_trial(client: TestClient, finished: int,
                                            settings: Settings) -> None:
    frame = results.trials_frame(settings.database_url, finished)
    trials = client.get(f"/studies/{finished}/trials", params={"limit": 100}).json()["items"]
    assert len(frame) == 30 and list(frame["number"]) == [t["number"] for t in trials]
    network = get_network("resnet20")
    expected = [f"{layer.name}{results.CHOICE_SEPARATOR}weight_bits"
                for layer in network.compute_layers]
    assert set(expected) <= set(frame.columns)
    for trial in trials:
        row = frame.loc[trial["number"]]
        assert bool(row["on_front"]) == trial["on_front"]
        assert row["latency_s"] == pytest.approx(trial["values"]["latency_s"], rel=1e-12)
        for layer, choice in trial["design"]["layers"].items():
            assert row[f"{layer}:epitome_out"] == choice["epitome_out"]
    csv_text = client.get(f"/studies/{finished}/export", params={"format": "csv"}).text
    header = csv_text.splitlines()[0].split(",")
    assert header == list(frame.columns) and len(csv_text.strip().splitlines()) == 31
    assert not any(math.isnan(v) for v in frame["crossbars"])


def test_cli_design_and_model_match_the_api(client: TestClient, finished: int,
                                            settings: Settings, tmp_path: Path) -> None:
    number = client.get(f"/studies/{finished}/pareto").json()["trials"][0]["number"]
    runner = CliRunner()
    common = ["--database-url", settings.database_url]
    shown = runner.invoke(cli_app, ["study", "design", str(finished), str(number), *common])
    assert shown.exit_code == 0, shown.output
    assert yaml.safe_load(shown.output) == client.get(
        f"/studies/{finished}/trials/{number}").json()["design"]
    out = tmp_path / "m.pt"
    wrote = runner.invoke(cli_app, ["study", "model", str(finished), str(number), "--out",
                                    str(out), *common])
    assert wrote.exit_code == 0, wrote.output
    assert sum(p.numel() for p in load(out, device="cpu").parameters()) > 0
    missing = runner.invoke(cli_app, ["study", "design", str(finished), "999", *common])
    assert missing.exit_code == 2 and "TRIAL" in missing.output


def test_pages_and_docs_need_no_internet(client: TestClient, finished: int) -> None:
    page = client.get(f"/ui/studies/{finished}")
    assert page.status_code == 200 and "/ui/static/study.js" in page.text
    for path in ("/docs", "/redoc", f"/ui/studies/{finished}", "/ui/",
                 f"/ui/compare?a={finished}&b={finished}"):
        body = client.get(path).text
        assert "https://" not in body and "http://" not in body, path
    docs = client.get("/docs").text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        url = next(part for part in docs.split('"') if part.endswith(asset))
        assert client.get(url).status_code == 200 and url.startswith("/")
    redoc = client.get("/redoc").text
    script = next(part for part in redoc.split('"') if part.endswith("redoc.standalone.js"))
    assert len(client.get(script).content) > 100_000
    for asset in ("study.js", "chart.js", "compare.js", "style.css"):
        assert client.get(f"/ui/static/{asset}").status_code == 200
    assert client.get("/ui/compare", params={"a": finished, "b": 99999}).status_code == 404
    assert client.get("/ui/compare", params={"a": "x", "b": 1}).status_code == 422
