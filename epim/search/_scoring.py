"""One batch of proposals scored: cost model, constraints, proxy, and the trials to store.

The designs are decoded into one :class:`DesignBatch` and costed in one vectorized call (the
per-layer breakdown comes from the same call); the proxy runs only for designs that meet the
cost constraints (and the chip budget). Each trial stores what was measured; its strategy is
told the same metrics, where a metric the proxy did not give (an untrained design) is the
proxy's worst score, so an infeasible design is told, never failed and never trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from epim.search._constraints import constraint_values, cost_feasible
from epim.search._metrics import cost_metrics
from epim.search._prepare import PreparedStudy
from epim.search._proxy_runs import ProxyOutcome, ProxyRuns, worst_score
from epim.search._records import Baseline, TrialRecord
from epim.search._strategy import Proposal, Told


@dataclass(frozen=True)
class ScoredBatch:
    """A batch of proposals scored and evaluated, ready to tell and to store.

    Attributes:
        told: What the strategy is told, one per proposal that was not cancelled.
        cancelled: Proposals whose proxy run was cancelled (the run stopped): not told.
        designs: The told proposals' designs (design file format).
        hashes: Their design hashes.
        layers: Their per-layer ``crossbars``, ``tiles``, ``latency_s`` and ``energy_j``.
        proxied: Their proxy outcomes.
        fidelity: Proxy training steps of a trial the proxy ran for (``None``: no training).

    """

    told: list[Told]
    cancelled: list[Proposal]
    designs: list[dict[str, Any]]
    hashes: list[str]
    layers: list[dict[str, list[float]]]
    proxied: list[ProxyOutcome]
    fidelity: int | None

    def records(self, system_attrs: Sequence[dict[str, Any]], first: int
                ) -> list[TrialRecord]:
        """The told trials as records numbered from ``first``, with the strategy's state."""
        records = []
        for k, (item, system) in enumerate(zip(self.told, system_attrs, strict=True)):
            outcome = self.proxied[k]
            failed = outcome.error is not None
            records.append(TrialRecord(
                number=first + k, state="failed" if failed else "complete",
                params=dict(item.proposal.params), system_attrs=system, values=item.values,
                metrics=item.metrics, constraints=item.constraints,
                feasible=not failed and all(c <= 0 for c in item.constraints),
                design=self.designs[k], design_hash=self.hashes[k], layers=self.layers[k],
                accuracy_evaluated=outcome.metrics is not None, error=outcome.error,
                node=outcome.node, source=item.proposal.source,
                fidelity=self.fidelity if outcome.ran else None))
        return records


class BatchScorer:
    """Scores batches of one study's proposals.

    Args:
        study: The prepared study.
        baseline: Its dense baseline (the reductions' reference, and ``accuracy_drop``'s).
        proxies: The study's proxy runs (``None`` for a cost-only study).

    """

    def __init__(self, study: PreparedStudy, baseline: Baseline,
                 proxies: ProxyRuns | None) -> None:
        self.study = study
        self.baseline = baseline
        self.proxies = proxies
        accuracy = study.spec.accuracy
        self.worst = None if accuracy is None else worst_score(accuracy.proxy)
        self.fidelity = accuracy.steps if accuracy is not None and accuracy.proxy == "train" \
            else None

    def score(self, proposals: Sequence[Proposal]) -> ScoredBatch:
        """Cost, constrain and evaluate ``proposals`` (the proxy only for feasible ones)."""
        spec = self.study.spec
        size = len(proposals)
        designs = self.study.space.decode_batch([p.values for p in proposals])
        costs = self.study.model.evaluate(designs)
        metrics = cost_metrics(costs, self.baseline.metrics, spec.latency_mode)
        chip = self.study.space.chip  # the chip budget: one more constraint value
        over = None if chip is None else chip.violation(costs.tiles, costs.area_m2)
        cost_ok = [ok and (over is None or over[i] <= 0) for i, ok in
                   enumerate(cost_feasible(spec.constraints, metrics, size))]
        hashes = designs.digests()
        dicts = designs.to_dicts()
        proxied = [ProxyOutcome()] * size if self.proxies is None else \
            self.proxies.evaluate(dicts, hashes, cost_ok)
        breakdown = {"crossbars": costs.layer_crossbars.tolist(),
                     "tiles": costs.layer_tiles.tolist(),
                     "latency_s": costs.layer_latency_s.tolist(),
                     "energy_j": costs.layer_energy_j.tolist()}
        columns = {k: v.tolist() for k, v in metrics.items()}
        scored = ScoredBatch([], [], [], [], [], [], self.fidelity)
        for i, proposal in enumerate(proposals):
            outcome = proxied[i]
            if outcome.cancelled:
                scored.cancelled.append(proposal)
                continue
            measured = self.measured({k: float(v[i]) for k, v in columns.items()},
                                     outcome.metrics)
            told = self.told(measured)
            constraints = constraint_values(spec.constraints, told)
            if over is not None:
                constraints.append(float(over[i]))
            scored.told.append(Told(proposal, None if outcome.error is not None else
                                    [told[m] for m in self.study.metrics], constraints,
                                    measured))
            scored.designs.append(dicts[i])
            scored.hashes.append(hashes[i])
            scored.layers.append({k: v[i] for k, v in breakdown.items()})
            scored.proxied.append(outcome)
        return scored

    def measured(self, costs: dict[str, float], proxy: dict[str, float] | None
                 ) -> dict[str, float]:
        """What a trial stores: its cost metrics, and the proxy's metrics where it ran."""
        if proxy is None:
            return costs
        return {**costs, "accuracy": proxy["accuracy"],
                "accuracy_drop": self.baseline.metrics["accuracy"] - proxy["accuracy"],
                **{k: v for k, v in proxy.items() if k not in costs and k != "accuracy"}}

    def told(self, measured: dict[str, float]) -> dict[str, float]:
        """What the strategy is told: a metric the proxy did not give is its worst score."""
        if self.worst is None or not self.study.spec.needs_accuracy:
            return measured
        told = dict(measured)
        told.setdefault("accuracy_drop", self.baseline.metrics["accuracy"]
                        - told.setdefault("accuracy", self.worst))
        spec = self.study.spec
        for metric in (*self.study.metrics, *(c.metric for c in spec.constraints)):
            told.setdefault(metric, self.worst)
        return told
