"""CSV exports never hand a spreadsheet a formula (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest

from epim import results
from epim.cli._common import OutputFormat, emit
from epim.service import trials_csv


def trial(number: int, layer: str, error: str | None) -> results.TrialRow:
    """A stored trial as an old study may hold it (before layer names had a pattern)."""
    return results.TrialRow(
        number=number, state="failed" if error else "complete", feasible=error is None,
        on_front=False, source="=random", node="@host", error=error,
        metrics={"latency_s": -1.5e-3}, design={"network": "n", "layers": {
            layer: {"weight_bits": 4, "act_bits": 8}}})


def test_trial_exports_escape_formula_starts() -> None:
    text = trials_csv([trial(0, "=HYPERLINK(\"http://x\")", None),
                       trial(1, "=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0")])
    rows = list(csv.reader(io.StringIO(text)))
    header, first, second = rows
    assert "'=HYPERLINK(\"http://x\"):weight_bits" in header
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r"))
                   for row in rows for cell in row if not _number(cell)), rows
    assert second[header.index("error")] == "'+cmd|' /C calc'!A0"
    assert first[header.index("source")] == "'=random"
    assert first[header.index("node")] == "'@host"
    assert float(first[header.index("latency_s")]) == pytest.approx(-1.5e-3)  # numbers stay


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_cli_csv_escapes_text_cells(capsys: pytest.CaptureFixture[str]) -> None:
    emit([{"name": "=1+1", "value": -2, "note": "\tx", "list": ["=a"]}], OutputFormat.csv)
    header, row = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert header == ["name", "value", "note", "list"]
    assert row == ["'=1+1", "-2", "'\tx", '["=a"]']


def test_cli_csv_nested_mappings_are_columns_still_escaped(
        capsys: pytest.CaptureFixture[str]) -> None:
    emit([{"name": "a", "energy_j": {"adc": 1.5, "dac": "=2"}, "=k": {"x": 1}},
          {"name": "b", "energy_j": {"adc": 0.5}}], OutputFormat.csv)
    header, first, second = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert header == ["name", "energy_j.adc", "energy_j.dac", "'=k.x"]
    assert first == ["a", "1.5", "'=2", "1"]
    assert second == ["b", "0.5", "", ""]


def test_csv_keeps_replication_and_hardware_genes_of_every_trial() -> None:
    """A design file leaves out replication 1 and the preset's genes: later trials' columns
    must not be lost because the first trial had none."""
    def designed(number: int, layers: dict[str, dict[str, int]],
                 hardware: dict[str, int] | None = None) -> results.TrialRow:
        design: dict[str, object] = {"network": "n", "layers": layers}
        if hardware:
            design["hardware"] = hardware
        return results.TrialRow(number=number, state="complete", feasible=True,
                                on_front=False, source="nsga2", node=None, error=None,
                                metrics={"energy_j": 1e-6}, design=design)

    plain = {"weight_bits": 4}
    text = trials_csv([designed(0, {"a": plain, "b": plain}),
                       designed(1, {"a": plain, "b": {**plain, "replication": 4}},
                                {"xbar_size": 128, "adc_choice": 7})])
    header, first, second = list(csv.reader(io.StringIO(text)))
    assert header[-5:] == ["a:weight_bits", "b:weight_bits", "b:replication",
                           "hardware.adc_choice", "hardware.xbar_size"]
    assert first[-5:] == ["4", "4", "1", "", ""]  # replication 1; genes: the preset's
    assert second[-5:] == ["4", "4", "4", "7", "128"]
    without = trials_csv([designed(0, {"a": plain})])  # no replication searched: no column
    assert next(csv.reader(io.StringIO(without)))[-1] == "a:weight_bits"
