"""Per-layer numbers pinned in golden files (regenerate with scripts/regen_golden.py)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("regen_golden", ROOT / "scripts/regen_golden.py")
assert spec and spec.loader
regen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(regen)


@pytest.mark.parametrize("case", regen.CASES, ids=[c[0] for c in regen.CASES])
def test_matches_golden(case: tuple) -> None:  # type: ignore[type-arg]
    expected = json.loads((ROOT / "tests/cost_model/golden" / f"{case[0]}.json").read_text())
    actual = json.loads(json.dumps(regen.build(case)))
    assert actual.keys() == expected.keys()
    assert actual["crossbars"] == expected["crossbars"]
    assert actual["tiles"] == expected["tiles"]
    for got, want in zip(actual["layers"], expected["layers"], strict=True):
        assert got["name"] == want["name"]
        assert (got["crossbars"], got["tiles"]) == (want["crossbars"], want["tiles"])
        assert got["latency_s"] == pytest.approx(want["latency_s"], rel=1e-9)
        assert got["energy_j"] == pytest.approx(want["energy_j"], rel=1e-9)
    for key in ("area_m2", "crossbar_area_m2", "energy_j", "latency_s"):
        assert actual[key] == pytest.approx(expected[key], rel=1e-9)
    for mode, seconds in expected["latency_s_by_mode"].items():  # every mode, not just the case's
        assert actual["latency_s_by_mode"][mode] == pytest.approx(seconds, rel=1e-9), mode
    assert actual["energy_breakdown_j"].keys() == expected["energy_breakdown_j"].keys()
    for component, joules in expected["energy_breakdown_j"].items():  # per component
        assert actual["energy_breakdown_j"][component] == pytest.approx(joules, rel=1e-9,
                                                                        abs=1e-30), component
