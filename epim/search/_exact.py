"""The ``exact`` strategy: the front of a cost-only study, solved instead of sampled.

A cost-only study's objectives are built from sums and one max over layers: crossbars, area,
stored weights, energy and layer-by-layer latency are sums of per-layer terms (``layer_tables``;
exact for crossbars, area and weights, within 1% for energy and 12% for latency, mean under 4%,
``benchmarks/table_additivity.py``); a reduction is the dense cost over a sum; EDP is the
product of two sums (a design dominated in energy and latency is dominated in EDP, so the front
of the two sums holds the EDP front); pipelined and throughput latencies are set by the busiest
layer (a bottleneck: ISAAC, NeuroSim). So:

1. For every hardware tuple of the space (``space.hardware_variants()``, at most 256), the
   per-layer choices (epitome, bits, copies) are costed in one cost-model call.
2. The Pareto front of the summed objectives, under the study's additive constraints (and the
   chip budget's tiles or area), is solved by the multiple-choice knapsack DP
   (``knapsack_front``), with a slack on the sums that only estimate the model (energy,
   latency), so every design within that slack of the table front is kept too. With a
   bottleneck latency, the DP runs once per threshold ``T`` (every distinct per-layer busy
   time, choices above ``T`` removed) and ``T`` joins the objectives (Kellerer, Pferschy and
   Pisinger, *Knapsack Problems*, 2004, sect. 11.3 on bottleneck objectives).
3. Every candidate is scored by the cost model itself; the feasible front of those scores,
   merged over hardware tuples, is what the strategy proposes, spread first (farthest point
   in normalized objectives), so a budget smaller than the front still spans it. The driver
   scores each proposal again and stores the model's metrics, not the tables'.

The plan is deterministic, so a resumed study solves it again and proposes only the designs
it has not stored. Where a spec cannot be solved so (a cost maximized against its nature),
the strategy says why and hands the study to NSGA-II.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from epim.metrics import PRODUCTS, REDUCTIONS, metric_info
from epim.search._knapsack import knapsack_front
from epim.search._metrics import cost_metrics
from epim.search._pareto import front_indices, minimization_signs
from epim.search._prepare import PreparedStudy
from epim.search._strategy import Proposal, RunContext, Strategy, Told
from epim.search._tables import LayerTables, layer_tables
from epim.space import DesignBatch

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Slack of the sums that only estimate the model, as a share of the cheapest sum: table
#: energy is within 1% of the model's, layer-by-layer latency within 4% on average.
ESTIMATE_SLACK = {"energy_j": 0.005, "latency_s": 0.02}
#: Bottleneck thresholds solved per hardware tuple at most (beyond: a spread subset).
MAX_THRESHOLDS = 256
#: Table points kept between layers (beyond: thinned, and the plan says so).
MAX_POINTS = 4_000
#: Candidates scored per cost-model call.
CHUNK = 20_000
#: Seconds the whole plan may take before it keeps what it has (and says so).
SOLVE_BUDGET_S = 300.0


@dataclass(frozen=True)
class ExactPlan:
    """What the exact engine proposes.

    Attributes:
        values: Parameter values of the designs to evaluate, spread first.
        exact: Whether the table fronts were solved without thinning or cut-offs.
        detail: One line for the study's phase (what was solved, what was not).
        candidates: Designs scored by the cost model to find the front.

    """

    values: list[dict[str, int]]
    exact: bool
    detail: str
    candidates: int = 0


def unsolvable(study: PreparedStudy) -> str | None:
    """Why ``study`` cannot be solved by the exact engine, or ``None`` when it can."""
    spec = study.spec
    if spec.needs_accuracy:
        return "accuracy is not a sum of per-layer costs"
    for objective in spec.objectives:
        if objective.direction != metric_info(objective.metric).direction:
            return (f"objective {objective.metric} is to {objective.direction}: the knapsack "
                    "minimizes costs")
    return None


def exact_plan(study: PreparedStudy, baseline: Mapping[str, float], *,
               should_stop: Callable[[], bool] = lambda: False,
               budget_s: float = SOLVE_BUDGET_S) -> ExactPlan | None:
    """Solve the study's front as the module docstring says; ``None`` if stopped."""
    started = time.monotonic()
    spec = study.spec
    columns, bottleneck = _objective_terms(study)
    bounds, cap, unsolved = _constraint_terms(study, baseline)
    for metric in bounds:
        if metric not in columns and metric != "tiles":
            columns.append(metric)  # a bounded sum is a dimension of the constrained front
    exact, notes = True, list(unsolved)
    if unsolved:
        exact = False
    chunks: list[tuple[LayerTables, IntArray]] = []
    variants = study.space.hardware_variants()
    solved = 0
    for genes in variants:
        if should_stop():
            return None
        if time.monotonic() - started > budget_s:
            exact = False
            notes.append(f"stopped solving after {budget_s:.0f} s")
            break
        tables = layer_tables(study.space, study.model, genes)
        if tables.pairs and exact:  # per-layer sums miss a pruned layer's reader's savings
            exact = False
            notes.append("channel-pruned pairs estimated layer by layer")
        rows, complete = _solve(study, tables, columns, bounds, bottleneck, cap,
                                deadline=started + budget_s, should_stop=should_stop)
        if should_stop():
            return None
        if not complete and time.monotonic() - started > budget_s:
            notes.append(f"stopped solving after {budget_s:.0f} s")
        exact &= complete
        chunks.append((tables, rows))
        solved += 1
    values, candidates = _scored_front(study, baseline, chunks, should_stop)
    if values is None:
        return None
    parts = [f"{len(values)} front designs from {candidates} knapsack candidates",
             f"{solved} hardware tuple{'s' if solved != 1 else ''}",
             f"{time.monotonic() - started:.1f} s"]
    if bottleneck:
        parts.append(f"{spec.latency_mode} latency by bottleneck thresholds")
    detail = "exact: " + ", ".join(parts) + ("" if exact else "; not exact: "
                                             + "; ".join(notes or ["fronts thinned"]))
    return ExactPlan(values, exact, detail, candidates)


def _objective_terms(study: PreparedStudy) -> tuple[list[str], bool]:
    """The sums to minimize and whether a bottleneck latency is an objective."""
    latency_summed = study.spec.latency_mode == "layer_by_layer"
    columns: list[str] = []
    bottleneck = False
    for objective in study.spec.objectives:
        metric = REDUCTIONS.get(objective.metric, objective.metric)
        for part in PRODUCTS.get(metric, (metric,)):
            if part == "latency_s" and not latency_summed:
                bottleneck = True
                if study.spec.latency_mode == "pipelined" and part not in columns:
                    columns.append(part)  # the pipeline's fill: the layers' sum beside the max
            elif part not in columns:
                columns.append(part)
    if not columns:
        columns.append("energy_j")  # ties among equal bottlenecks go to the cheaper design
    return columns, bottleneck


def _constraint_terms(study: PreparedStudy, baseline: Mapping[str, float]
                      ) -> tuple[dict[str, float], float, list[str]]:
    """Upper bounds on sums, the bottleneck cap (s) and what the knapsack cannot bound.

    Bounds on estimated sums are widened by their slack: the cost model decides.
    """
    spec = study.spec
    bounds: dict[str, float] = {}
    cap = math.inf
    unsolved: list[str] = []
    for constraint in spec.constraints:
        unsolved.extend(f"{constraint.metric} {side} is checked on candidates"
                        for side in constraint.whole_design_bounds())
        bound = constraint.additive_bound(baseline)
        if bound is None:
            continue
        metric, limit = bound
        if not metric_info(metric).summed(spec.latency_mode):  # a pipeline's bottleneck
            cap = min(cap, limit)
            continue
        limit *= 1.0 + ESTIMATE_SLACK.get(metric, 0.0) * 3
        bounds[metric] = min(limit, bounds.get(metric, math.inf))
    chip = study.space.chip
    if chip is not None:  # tiles and area are exact sums: area = tiles x the tile's area
        if chip.max_area_m2 is not None:
            bounds["area_m2"] = min(chip.max_area_m2, bounds.get("area_m2", math.inf))
        if chip.max_tiles is not None:
            bounds["tiles"] = float(chip.max_tiles)
    return bounds, cap, unsolved


def _solve(study: PreparedStudy, tables: LayerTables, columns: Sequence[str],
           bounds: Mapping[str, float], bottleneck: bool, cap: float,
           deadline: float = math.inf, should_stop: Callable[[], bool] = lambda: False
           ) -> tuple[IntArray, bool]:
    """Choice rows of the near-front designs of one hardware tuple; whether unthinned."""
    width = len(tables.layers)
    costs = tables.costs
    limit = dict(bounds)
    if "tiles" in limit:  # the chip's tiles bound is an area bound of this tuple's tiles
        tiles = limit.pop("tiles") * _tile_area(study, tables)
        limit["area_m2"] = min(tiles, limit.get("area_m2", math.inf))
    names = [c for c in columns if c != "tiles"]
    if "area_m2" in limit and "area_m2" not in names:
        names.append("area_m2")
    per_layer = [np.column_stack([costs[m][j] for m in names]) for j in range(width)]
    slack = [0.0 if bottleneck and m == "latency_s" else  # the fill term only steers
             ESTIMATE_SLACK.get(m, 0.0) * sum(float(t.min()) for t in costs[m])
             for m in names]
    limits = [limit.get(m) for m in names]
    if not bottleneck:
        front = knapsack_front(per_layer, upper_bounds=limits, slack=slack,
                               max_points=MAX_POINTS)
        return front.choices, not front.thinned
    busy = tables.costs["busy_s"]
    floor = max(float(b.min()) for b in busy)
    levels = np.unique(np.concatenate(busy))
    levels = levels[(levels >= floor) & (levels <= cap * (1 + 1e-9))]
    complete = True
    if levels.size > MAX_THRESHOLDS:
        complete = False
        levels = levels[np.unique(np.linspace(0, levels.size - 1, MAX_THRESHOLDS).round()
                                  .astype(np.int64))]
    found: list[IntArray] = []
    for level in levels:
        if time.monotonic() > deadline or should_stop():
            complete = False
            break
        allowed = [np.flatnonzero(b <= level) for b in busy]
        front = knapsack_front([t[a] for t, a in zip(per_layer, allowed, strict=True)],
                               upper_bounds=limits, slack=slack, max_points=MAX_POINTS)
        complete &= not front.thinned
        if len(front):
            found.append(np.stack([a[front.choices[:, j]] for j, a in enumerate(allowed)],
                                  axis=1))
    rows = np.unique(np.concatenate(found), axis=0) if found else np.zeros((0, width),
                                                                            np.int64)
    return rows.astype(np.int64), complete


def _tile_area(study: PreparedStudy, tables: LayerTables) -> float:
    """The tile area of the tables' hardware (m^2)."""
    return float(study.model.variant(dict(tables.hardware)).tile_area_m2)


def _scored_front(study: PreparedStudy, baseline: Mapping[str, float],
                  chunks: Sequence[tuple[LayerTables, IntArray]],
                  should_stop: Callable[[], bool]
                  ) -> tuple[list[dict[str, int]] | None, int]:
    """The feasible front of the candidates by the cost model, spread first."""
    spec = study.spec
    metrics = [o.metric for o in spec.objectives]
    directions = [o.direction for o in spec.objectives]
    points: list[FloatArray] = []
    owners: list[tuple[int, IntArray]] = []
    count = 0
    for k, (tables, rows) in enumerate(chunks):
        for start in range(0, rows.shape[0], CHUNK):
            if should_stop():
                return None, count
            part = rows[start:start + CHUNK]
            designs = tables.designs(study.space, part)
            ok, values = _feasible_values(study, baseline, designs, metrics)
            count += part.shape[0]
            points.append(values[ok])
            owners.append((k, part[ok]))
    if not points or sum(p.shape[0] for p in points) == 0:
        return [], count
    stacked = np.concatenate(points)
    rows_of = [(k, row) for k, part in owners for row in part]
    front = front_indices(stacked, directions)
    order = _spread(stacked[front] * minimization_signs(directions))
    chosen: list[dict[str, int]] = []
    for i in front[order]:
        k, row = rows_of[int(i)]
        tables = chunks[k][0]
        design = tables.values(row[None, :])[0]
        design.update(_gene_values(study, tables.hardware))
        chosen.append(design)
    return chosen, count


def _feasible_values(study: PreparedStudy, baseline: Mapping[str, float],
                     designs: DesignBatch, metrics: Sequence[str]
                     ) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """Which designs meet every constraint (and the chip budget), and their objectives."""
    spec = study.spec
    costs = study.model.evaluate(designs)
    scored = cost_metrics(costs, baseline, spec.latency_mode)
    ok = np.ones(len(designs), dtype=bool)
    for constraint in spec.constraints:
        ok &= constraint.holds(scored[constraint.metric])
    chip = study.space.chip
    if chip is not None:
        ok &= chip.violation(costs.tiles, costs.area_m2) <= 0
    return ok, np.column_stack([scored[m] for m in metrics])


def _gene_values(study: PreparedStudy, genes: Mapping[str, int]) -> dict[str, int]:
    """The ``hw/<gene>`` parameter values of a hardware tuple (searched genes only)."""
    params = study.space.parameters()
    return {f"hw/{gene}": int(value) for gene, value in genes.items()
            if f"hw/{gene}" in params}


def _spread(points: FloatArray) -> IntArray:
    """An order of ``points`` (minimized) that spans them early.

    Each objective's best first, then the farthest from those chosen (in the points' range).
    """
    n = points.shape[0]
    if n <= 1:
        return np.arange(n, dtype=np.int64)
    low, high = points.min(axis=0), points.max(axis=0)
    unit = (points - low) / np.where(high > low, high - low, 1.0)
    order: list[int] = []
    for j in range(points.shape[1]):
        best = int(np.argmin(unit[:, j]))
        if best not in order:
            order.append(best)
    distance = np.min(np.linalg.norm(unit[:, None, :] - unit[None, order, :], axis=2), axis=1)
    while len(order) < n:
        pick = int(np.argmax(distance))
        order.append(pick)
        distance = np.minimum(distance, np.linalg.norm(unit - unit[pick], axis=1))
        distance[order] = -1.0
    return np.asarray(order, dtype=np.int64)


class ExactStrategy(Strategy):
    """Proposes the exact plan's designs (see the module docstring), then nothing more.

    Built by :meth:`build`; where :func:`unsolvable` gives a reason, NSGA-II searches
    instead (the reason is the run's phase detail).

    Args:
        plan: The solved plan.
        queue: Its designs' parameter values not stored yet, in its order.

    """

    name = "exact"

    def __init__(self, plan: ExactPlan, queue: list[dict[str, int]]) -> None:
        self.plan = plan
        self.queue = queue

    @classmethod
    def build(cls, run: RunContext) -> Strategy | None:
        """Solve the plan and queue the designs not stored yet (or start the fallback).

        Returns ``None`` if the run stopped while solving.
        """
        reason = unsolvable(run.study)
        if reason is not None:
            from epim.search._optuna import OptunaStrategy

            run.announce("sampling", f"genetic fallback (nsga2): {reason}")
            return OptunaStrategy(run, sampler="nsga2")
        run.announce("solving", "exact: multiple-choice knapsack fronts over the layers")
        plan = exact_plan(run.study, run.baseline.metrics, should_stop=run.should_stop)
        if plan is None:
            return None
        stored = {r.design_hash for r in run.records}
        queue = []
        if plan.values:
            hashes = run.study.space.decode_batch(plan.values).digests()
            queue = [v for v, h in zip(plan.values, hashes, strict=True) if h not in stored]
        run.announce("solving", plan.detail)
        return cls(plan, queue)

    def propose(self, n: int) -> list[Proposal]:
        """The next ``n`` designs of the plan (none once it is spent)."""
        taken, self.queue = self.queue[:n], self.queue[n:]
        return [Proposal(values=v, params=dict(v), source="exact") for v in taken]

    def tell(self, told: Sequence[Told]) -> list[dict[str, Any]]:
        """Nothing to learn: the plan is fixed."""
        return [{} for _ in told]

    def discard(self, proposals: Sequence[Proposal]) -> None:
        """Put unevaluated designs back at the head of the queue."""
        self.queue = [dict(p.values) for p in proposals] + self.queue
