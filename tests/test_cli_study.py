"""``epim study``: tables in engineering units, ``export --out``, a trial's hardware as a
preset file that ``epim cost --hardware`` reads back (issues 24 item 5, 21 item 4)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from epim import results
from epim.cli import app
from epim.cost_model import ENERGY_COMPONENTS

runner = CliRunner()
#: A small hardware co-search (cost only, a second or two): genes and replication searched.
SPEC: dict[str, Any] = {
    "name": "cli-cosearch", "network": "resnet20", "hardware": "mnsim",
    "space": {"epitome": {"channel_ratios": [1, 2, 4], "pim_aligned": True},
              "weight_bits": [3, 4, 8], "activation_bits": 8, "replication": [1, 2],
              "hardware": {"xbar_size": [128, 256], "adc_choice": [4, 7], "cell_bits": [1, 2]}},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "latency_s"},
                   {"metric": "energy_j"}],
    "sampler": {"name": "nsga2", "seed": 0, "population_size": 10},
    "budget": {"n_trials": 20}, "batch_size": 10, "latency_mode": "pipelined",
}


def epim(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A finished co-search study in a SQLite file: (database URL, a scratch directory)."""
    root = tmp_path_factory.mktemp("cli-study")
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    url = f"sqlite:///{root / 'epim.db'}"
    epim("study", "run", str(spec), "--database-url", url, "--quiet")
    yield url, root


def test_tables_print_engineering_units(study: tuple[str, Path]) -> None:
    url, _ = study
    trials = results.list_trials(url, 1, limit=100).items
    front = epim("study", "pareto", "1", "--database-url", url).stdout
    on_front = [t for t in trials if t.on_front]
    assert on_front
    for trial in on_front:  # the values as epim cost prints them: mm^2, ms, uJ
        assert f"{trial.metrics['crossbar_area_m2'] * 1e6:,.3f} mm^2" in front
        assert f"{trial.metrics['latency_s'] * 1e3:,.4f} ms" in front
        assert f"{trial.metrics['energy_j'] * 1e6:,.3f} uJ" in front
        assert f"{trial.metrics['crossbar_area_m2']:.6g}" not in front  # no raw SI
    table = epim("study", "export", "1", "--database-url", url, "-f", "table").stdout
    assert f"{trials[0].metrics['area_m2'] * 1e6:,.3f} mm^2" in table
    assert f"{trials[0].metrics['energy_reduction']:.2f} x" in table
    listing = epim("study", "list", "--database-url", url).stdout
    assert "20/20" in listing and " s\n" in listing  # elapsed in seconds
    shown = epim("study", "show", "1", "--database-url", url).stdout
    assert " mm^2" in shown and " uJ" in shown
    # JSON and CSV stay SI
    document = json.loads(epim("study", "pareto", "1", "--database-url", url,
                               "-f", "json").stdout)
    assert {t["number"] for t in document["trials"]} == {t.number for t in on_front}


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_export_out_writes_what_stdout_prints(study: tuple[str, Path], fmt: str) -> None:
    url, root = study
    printed = epim("study", "export", "1", "--database-url", url, "-f", fmt).stdout
    out = root / f"export.{fmt}"
    said = epim("study", "export", "1", "--database-url", url, "-f", fmt, "--out", str(out))
    assert said.stdout.startswith(f"wrote {out}")
    assert out.read_text() == printed
    assert epim("study", "export", "1", "--database-url", url, "-f", fmt,
                "--out", "-").stdout == printed
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(printed)))
        assert len(rows) == 20 and float(rows[0]["crossbar_area_m2"]) < 1e-3  # m^2
    if fmt == "json":
        assert len(json.loads(printed)["trials"]) == 20


def test_export_out_to_a_missing_directory_is_one_line(study: tuple[str, Path]) -> None:
    url, root = study
    result = runner.invoke(app, ["study", "export", "1", "--database-url", url, "--out",
                                 str(root / "no" / "such.csv")])
    assert result.exit_code == 2
    assert "--out" in result.output and len(result.output.strip().splitlines()) == 1


def test_cost_csv_has_one_column_per_energy_component() -> None:
    text = epim("cost", "--network", "vgg8", "-f", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0].keys() >= {"name", "energy_j"}
    columns = [c for c in rows[0] if c.startswith("energy_breakdown_j.")]
    assert columns == [f"energy_breakdown_j.{c}" for c in ENERGY_COMPONENTS]  # stable order
    assert "{" not in text  # no JSON blob in a cell
    report = json.loads(epim("cost", "--network", "vgg8", "-f", "json").stdout)
    for row, layer in zip(rows, report["layers"], strict=True):
        parts = sum(float(row[c]) for c in columns)
        assert parts == pytest.approx(float(row["energy_j"]), rel=1e-9)
        assert float(row["energy_breakdown_j.adc"]) == layer["energy_breakdown_j"]["adc"]


def _cost(*args: str) -> dict[str, Any]:
    return dict(json.loads(epim("cost", "--network", "resnet20", "--latency-mode",
                                "pipelined", "-f", "json", *args).stdout))


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_trials_hardware_round_trips_through_epim_cost(study: tuple[str, Path],
                                                         fmt: str) -> None:
    url, root = study
    trials = results.list_trials(url, 1, limit=100).items
    genes = [t for t in trials if (t.design.get("hardware") or {}).get("xbar_size") == 128]
    assert genes, "no trial of the co-search chose 128x128 crossbars"
    trial = genes[0]
    hw, design = root / f"hw-{trial.number}.{fmt}", root / f"design-{trial.number}.yaml"
    epim("study", "hardware", "1", str(trial.number), "--database-url", url, "-f", fmt,
         "--out", str(hw))
    epim("study", "design", "1", str(trial.number), "--database-url", url, "--out",
         str(design))
    preset = yaml.safe_load(hw.read_text())  # JSON is YAML
    assert preset["parameters"]["xbar_rows"]["value"] == 128
    assert f"trial {trial.number}" in preset["description"]
    report = _cost("--hardware", str(hw), "--design", str(design))
    for metric in ("crossbar_area_m2", "area_m2", "latency_s", "energy_j"):
        assert report[metric] == pytest.approx(trial.metrics[metric], rel=1e-9), metric
    # the file alone carries the hardware: the design without its genes costs the same
    bare = root / f"bare-{trial.number}.yaml"
    document = yaml.safe_load(design.read_text())
    document.pop("hardware")
    bare.write_text(yaml.safe_dump(document))
    alone = _cost("--hardware", str(hw), "--design", str(bare))
    assert alone["crossbars"] == report["crossbars"]
    assert alone["energy_j"] == pytest.approx(report["energy_j"], rel=1e-9)
    assert _cost("--design", str(bare))["crossbars"] != report["crossbars"]  # preset differs


def test_hardware_of_a_missing_trial_is_one_line(study: tuple[str, Path]) -> None:
    url, _ = study
    result = runner.invoke(app, ["study", "hardware", "1", "999", "--database-url", url])
    assert result.exit_code == 2 and "no trial 999" in result.output


def test_the_api_serves_the_same_hardware_file(study: tuple[str, Path]) -> None:
    from fastapi.testclient import TestClient

    from epim.api import create_app
    from epim.settings import Settings

    url, _ = study
    number = results.list_trials(url, 1, limit=1).items[0].number
    cli = epim("study", "hardware", "1", str(number), "--database-url", url, "-f", "json")
    with TestClient(create_app(Settings(database_url=url))) as client:
        served = client.get(f"/studies/1/trials/{number}/hardware", params={"format": "json"})
        assert served.status_code == 200, served.text
        assert json.loads(served.text) == json.loads(cli.stdout)
        assert client.get("/studies/1/trials/999/hardware").status_code == 404
        assert client.get(f"/studies/1/trials/{number}/hardware",
                          params={"format": "xml"}).status_code == 422


def test_the_cli_prints_the_documents_the_api_serves(study: tuple[str, Path]) -> None:
    """``study export/pareto/show/list --format json`` and the API: one document each."""
    from fastapi.testclient import TestClient

    from epim.api import create_app
    from epim.settings import Settings

    url, _ = study
    cli = {name: json.loads(epim("study", *args, "--database-url", url, "-f", "json").stdout)
           for name, args in (("export", ("export", "1")), ("pareto", ("pareto", "1")),
                              ("front", ("pareto", "1", "--axes", "latency_s,energy_j")),
                              ("show", ("show", "1")), ("list", ("list",)))}
    with TestClient(create_app(Settings(database_url=url))) as client:
        served = {name: client.get(path, params=params).json() for name, path, params in (
            ("export", "/studies/1/export", {"format": "json"}),
            ("pareto", "/studies/1/pareto", {}),
            ("front", "/studies/1/pareto", {"x": "latency_s", "y": "energy_j"}),
            ("show", "/studies/1", {}), ("list", "/studies", {}))}
    assert cli["export"] == served["export"]
    assert len(cli["export"]["trials"]) == 20 and cli["export"]["study"]["progress"][
        "completed"] == 20
    assert cli["pareto"] == served["pareto"] and cli["front"] == served["front"]
    assert cli["front"]["objectives"] == [{"metric": "latency_s", "direction": "minimize"},
                                          {"metric": "energy_j", "direction": "minimize"}]
    assert cli["show"].pop("pareto") == served["pareto"]
    assert cli["show"] == served["show"]
    assert cli["list"] == served["list"]["items"]
