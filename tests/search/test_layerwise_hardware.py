"""The layer-wise engine over hardware tuples: merged fronts, genes, chip budget, offsets.

The engine is built by its own ``build`` on a stand-in run whose profile is synthetic (a
damage per weight-bit and channel count), so no network is trained here; the training study
with hardware genes is in ``test_layerwise.py``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from epim.search import StudySpec, prepare_study
from epim.search._knapsack import knapsack_front
from epim.search._layerwise import LayerwiseStrategy
from epim.search._pareto import non_dominated

HARDWARE = {"xbar_size": [64, 128], "adc_choice": [4, 7]}


def spec(*, accuracy: dict[str, Any] | None = None, **space: Any) -> StudySpec:
    return StudySpec.model_validate({
        "name": "lw-hw", "network": "resnet20",
        "space": {"weight_bits": [2, 4, 8],
                  "epitome": {"pim_aligned": False, "channel_ratios": [1, 2, 4]}, **space},
        "objectives": [{"metric": "energy_j"}, {"metric": "accuracy"}],
        "sampler": {"name": "layerwise", "seed": 0},
        "accuracy": {"dataset": "digits", "steps": 20, **(accuracy or {})}})


class StandIn:
    """A run with no trials whose profile is synthetic (no proxy is trained)."""

    def __init__(self, study: StudySpec) -> None:
        self.study = prepare_study(study)
        self.baseline = SimpleNamespace(metrics={"accuracy": 0.9, "robust_accuracy": 0.85})
        self.records: list[Any] = []

    def should_stop(self) -> bool:
        return False

    def announce(self, phase: str, detail: str = "") -> None:
        pass

    def profile(self, reference: dict[str, Any], probes: list[tuple[str, Any]],
                samples: int, steps: int) -> list[tuple[float, float]]:
        """Loss grows as weight bits and stored output channels shrink."""
        def loss(choice: Any) -> float:
            return 1.0 + 0.2 * (8 - choice[4]) + 4.0 / choice[1]
        return [(1.0, 0.9), *((loss(choice), 0.5) for _, choice in probes)]


def build(study: StudySpec) -> LayerwiseStrategy:
    strategy = LayerwiseStrategy.build(StandIn(study))  # type: ignore[arg-type]
    assert strategy is not None
    return strategy


def test_the_fronts_of_every_hardware_tuple_merge_into_one() -> None:
    strategy = build(spec(hardware=HARDWARE, replication=[1, 2]))
    assert len(strategy.variants) == 4
    damage = strategy.surrogate.weighted_tables()
    values, rows = strategy._merged_front("area_m2", damage, {})
    assert len(non_dominated(values)) == len(values)  # the merge is a front
    assert len(set(rows[:, 0].tolist())) > 1  # made of more than one tuple (chip area)
    for v, tables in enumerate(strategy.variants):  # a row's values are its tuple's sums
        mine = rows[:, 0] == v
        assert np.allclose(values[mine, 0], tables.totals("area_m2", rows[mine, 1:]),
                           rtol=1e-9)
        groups, _ = tables.group_values(["area_m2", damage])
        own = knapsack_front(groups).values  # each tuple's own front is covered by the merge
        covered = (values[None, :, :2] <= own[:, None, :] * (1 + 1e-12)).all(axis=2).any(axis=1)
        assert covered.all()
    candidates = strategy._front_candidates(12)
    assert 0 < len(candidates) <= 12
    space = strategy.run.study.space
    proposals = [strategy._proposal(row, "surrogate") for row in candidates]
    designs = space.decode_batch([p.values for p in proposals])
    for i, (row, proposal) in enumerate(zip(candidates, proposals, strict=True)):
        genes = dict(strategy.variants[int(row[0])].hardware)
        assert {g: proposal.params[f"hw/{g}"] for g in HARDWARE} == genes  # Optuna's params
        assert designs.hardware_of(i) == genes  # the design the driver decodes carries them
        assert np.array_equal(strategy.tables.index_of_design(designs.to_dicts()[i]),
                              row[1:])  # copies included: the stored design maps back


def test_hardware_effects_learn_an_offset_per_accuracy_group() -> None:
    strategy = build(spec(hardware={**HARDWARE, "tile_pes": [4, 8]},
                          accuracy={"hardware_effects": {"samples": 2}}))
    assert strategy.metric == "robust_accuracy"
    assert len(strategy.variants) == 8 and strategy.offsets.size == 4  # tile_pes: no effect
    before = strategy._front_candidates(30)
    # the energy front is made of ADC choice 7's tuples (the cheapest ADC)
    weak = [v for v, t in enumerate(strategy.variants) if t.hardware["adc_choice"] == 7]
    assert np.isin(before[:, 0], weak).all()
    rng = np.random.default_rng(0)
    mild = [np.argsort(d)[:3] for d in strategy.surrogate.damage]  # near the dense design
    for _ in range(32):  # ADC choice 7's tuples lose accuracy the ideal profile cannot see
        v = int(rng.integers(len(strategy.variants)))
        index = np.array([rng.choice(m) for m in mild])
        logit = strategy.surrogate.bias - float(strategy.surrogate.score(index[None])[0])
        logit -= 2.0 if v in weak else 0.0
        strategy.observed_index.append(index)
        strategy.observed_variant.append(v)
        strategy.observed_accuracy.append(0.1 + 0.75 / (1 + np.exp(-logit)))
    strategy._refit()
    low = {int(strategy.groups[v]) for v in weak}
    high = set(range(strategy.offsets.size)) - low
    assert min(strategy.offsets[sorted(low)]) > max(strategy.offsets[sorted(high)]) + 1.0
    after = strategy._front_candidates(30)
    assert np.isin(after[:, 0], weak).mean() < np.isin(before[:, 0], weak).mean()


def test_without_hardware_effects_every_tuple_shares_the_profile() -> None:
    strategy = build(spec(hardware={**HARDWARE, "tile_pes": [4, 8]}))
    assert strategy.metric == "accuracy" and strategy.offsets.size == 1
    assert strategy.groups.tolist() == [0] * 8


@pytest.mark.parametrize("genes", [{}, {"xbar_size": [128]}])
def test_a_space_of_one_tuple_keeps_its_single_front(genes: dict[str, Any]) -> None:
    strategy = build(spec(hardware=genes))
    assert len(strategy.variants) == 1
    damage = strategy.surrogate.weighted_tables()
    values, rows = strategy._merged_front("energy_j", damage, {})
    groups, _ = strategy.tables.group_values(["energy_j", damage])
    assert np.array_equal(values, knapsack_front(groups).values) and (rows[:, 0] == 0).all()
