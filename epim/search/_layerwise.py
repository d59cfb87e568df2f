"""The ``layerwise`` strategy: exact fronts of an additive surrogate, verified by training.

Cheapest first:

1. **Profile** (once per network, proxy and space; cached in the store): every searched
   layer's choices alone on the pretrained dense proxy (its epitome shapes at full bits, its
   pruning choices, its weight and activation bits at the dense shape), as calibration-loss
   damage.
2. **Exact surrogate fronts**: costs per layer and choice come from the cost model
   (``layer_tables``), damage from the profile (``AdditiveSurrogate``); the Pareto front of
   every cost objective against the summed damage, under the study's additive constraints, is
   solved exactly by the multiple-choice knapsack DP (``knapsack_front``), in milliseconds.
   With hardware genes (``space.hardware``) the tables are costed once per hardware tuple
   (``space.hardware_variants()``, at most 256), each tuple's front is solved, and the fronts
   are merged (the points no tuple's point dominates); each candidate carries its tuple, so
   its proposal sets the ``hw/<gene>`` parameters (a tuple's front bounded by a constraint
   on another sum is thinned to ``BOUNDED_POINTS``). Replication is a per-layer choice of the
   tables. A chip budget is refused at submission (``prepare_study``): as a bound, the area
   would be one more dimension of every front, and 3-objective fronts grow too large.
3. **Multi-fidelity verification**: each batch takes designs spread along that front (new
   ones only), screens ``screen_factor`` of them per slot at ``screen_steps`` (a short
   training; the best of each cost neighbourhood survives: successive halving), and proposes
   the survivors for training at the study's declared fidelity. A share of each batch is bred
   by NSGA-II from every trained design, for the interactions the additive model misses.
4. **Correction**: every trained design refits the surrogate's scale and per-layer weights
   (ridge toward the common scale), so the next front follows the observed damage.

The damage profile is measured once, on the ideal dense proxy, and shared by every hardware
tuple. With ``accuracy.hardware_effects`` the surrogate follows ``robust_accuracy`` (accuracy
on each design's own crossbars, which screening and training measure with each design's
hardware), and tuples that differ in genes that change what the crossbars compute
(``ACCURACY_GENES``: crossbar size, cell bits, ADC, DAC) get a damage offset each, learned
from their trained designs (the mean excess damage, shrunk toward 0 by one pseudo-design), so
the merge learns which hardware costs accuracy. No per-tuple profile is measured: the ideal
profile ranks a tuple's layer choices, screening and training correct the tuple's level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from epim.metrics import ADDITIVE_METRICS, REDUCTIONS, metric_info
from epim.search._codec import ParameterCodec
from epim.search._knapsack import knapsack_front
from epim.search._optuna import TrialBook
from epim.search._pareto import non_dominated
from epim.search._sampler import genetic_sampler
from epim.search._strategy import Proposal, RunContext, Strategy, Told
from epim.search._surrogate import AdditiveSurrogate
from epim.search._tables import LayerTables, layer_tables, reference_choice
from epim.space import CHOICE_FIELDS, DESIGN_FIELDS

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
#: Hardware genes that change what a crossbar computes (its partial sums, their ADC rounding,
#: the weight and input slices): with hardware effects a design's accuracy depends on them.
#: The others (PEs per tile, crossbars per PE) only place the same crossbars.
ACCURACY_GENES = frozenset({"xbar_size", "cell_bits", "adc_choice", "dac_choice"})
#: Alternations of the layers' fit and the accuracy groups' offsets (backfitting: Hastie
#: and Tibshirani, *Generalized Additive Models*, 1990, sect. 4.4).
BACKFIT_ROUNDS = 4
#: Points kept between layers by a surrogate front (``knapsack_front``'s default).
KNAPSACK_POINTS = 20_000
#: The same, for each tuple's front when a constraint bounds another sum (a third dimension:
#: measured on ResNet-20 with a synthetic profile on a loaded 2-core machine, 10,395 points
#: and 78 s a front; with copies searched and 2,000 points kept, about 6 s).
BOUNDED_POINTS = 2_000
#: The gene prefix of the space's hardware parameters (``SearchSpace.parameters``).
_HW = "hw/"


class LayerwiseStrategy(Strategy):
    """See the module docstring. Built complete per run (:meth:`build`) from the store.

    A candidate is an int row: its hardware tuple's index in ``variants``, then one choice
    index per layer (choices are the same in every tuple; their costs are not).

    Args:
        run: The run.
        tables: Per hardware tuple (``space.hardware_variants()`` order), the per-layer costs
            of the study's space (``layer_tables``).
        surrogate: The additive surrogate of the profile's damage.
        book: NSGA-II's study of the stored trials, which breeds the genetic share.

    """

    name = "layerwise"

    def __init__(self, run: RunContext, tables: Sequence[LayerTables],
                 surrogate: AdditiveSurrogate, book: TrialBook) -> None:
        self.run = run
        self.variants = tuple(tables)
        self.tables = self.variants[0]  # the choices (shared by every tuple)
        self.surrogate = surrogate
        self.book = book
        space = run.study.space
        self.genes = list(space.hardware)
        self._variant_of = {tuple(int(t.hardware[g]) for g in self.genes): v
                            for v, t in enumerate(self.variants)}
        params = space.parameters()
        self._gene_params = [{_HW + g: int(value) for g, value in t.hardware.items()
                              if _HW + g in params} for t in self.variants]
        self.metric = accuracy_metric(run)
        self.groups = _accuracy_groups(run, self.variants)
        self.offsets: FloatArray = np.zeros(int(self.groups.max(initial=0)) + 1)
        self.tried: set[bytes] = set()
        self.observed_index: list[IntArray] = []
        self.observed_variant: list[int] = []
        self.observed_accuracy: list[float] = []
        self.rounds = 0
        for record in run.records:
            self.tried.add(self._key_of_design(record.design))
            if record.state == "complete" and self.metric in record.metrics:
                self._observe(record.design, record.metrics[self.metric])
        self._refit()

    @classmethod
    def build(cls, run: RunContext) -> LayerwiseStrategy | None:
        """Tables, profile (from the store or measured now), surrogate, replayed trials.

        Returns ``None`` if the run stopped while costing the tables or profiling.
        """
        study = run.study
        settings = study.spec.sampler.layerwise
        variants = study.space.hardware_variants()
        tables = []
        for genes in variants:  # one cost-model call per hardware tuple
            if run.should_stop():
                return None
            tables.append(layer_tables(study.space, study.model, genes))
        run.announce("profile", "each layer's choices alone on the dense proxy")
        damage = measure_damage(run, tables[0], settings.profile_samples,
                                settings.profile_steps)
        if damage is None:
            return None
        metric = accuracy_metric(run)
        accuracy = float(run.baseline.metrics.get(
            metric, run.baseline.metrics.get("accuracy", 1.0)))
        surrogate = AdditiveSurrogate(damage, top=accuracy, floor=_chance(run),
                                      ridge=settings.ridge)
        told = [r for r in run.records if r.state in ("complete", "failed")]
        seed = study.spec.sampler.seed
        sampler = genetic_sampler(study.spec, seed=None if seed is None
                                  else (seed + len(told)) % 2**32)
        assert sampler is not None  # layerwise breeds with NSGA-II
        book = TrialBook(sampler, study.directions,
                         ParameterCodec(study.space, "categorical"), told)
        return cls(run, tables, surrogate, book)

    # ------------------------------------------------------------------ proposing
    def propose(self, n: int) -> list[Proposal]:
        """Surrogate-front designs (screened) and NSGA-II children, ``n`` in all."""
        run = self.run
        settings = run.study.spec.sampler.layerwise
        genetic = min(n, round(n * settings.genetic_share)) if self.rounds > 0 else 0
        surrogate = n - genetic
        screen_steps = self._screen_steps()
        factor = settings.screen_factor if screen_steps > 0 else 1
        candidates = self._front_candidates(surrogate * factor)
        proposals: list[Proposal] = []
        if candidates.shape[0]:
            if factor > 1 and candidates.shape[0] > surrogate:
                run.announce("screening", f"{candidates.shape[0]} surrogate-front designs at "
                             f"{screen_steps} steps")
                candidates = self._screen(candidates, surrogate, screen_steps)
            proposals += [self._proposal(row, "surrogate") for row in candidates[:surrogate]]
        self.rounds += 1
        run.announce("training", f"{n} designs at {run.study.spec.accuracy.steps} steps"
                     if run.study.spec.accuracy is not None else f"{n} designs")
        missing = n - len(proposals)
        if missing > 0 and not run.should_stop():
            proposals += self._bred(missing)
        return proposals

    def _screen_steps(self) -> int:
        spec = self.run.study.spec
        steps = spec.sampler.layerwise.screen_steps
        full = spec.accuracy.steps if spec.accuracy is not None else 0
        if steps is None:
            steps = full // 4
        return steps if 0 < steps < full else 0

    def _front_candidates(self, count: int) -> IntArray:
        """Up to ``count`` untried candidates spread along the surrogate's exact fronts.

        Per cost objective, every hardware tuple's front is solved and the fronts merged.
        Ordered by the first cost objective, cheapest first (screening groups neighbours).
        """
        width = 1 + len(self.tables.layers)
        if count <= 0:
            return np.zeros((0, width), dtype=np.int64)
        accuracy_column = self.surrogate.weighted_tables()
        metrics, bounds = self._cost_terms()
        metrics = metrics or ["crossbar_area_m2"]
        chosen: dict[bytes, IntArray] = {}
        for metric in metrics:  # one exact front per cost objective, against the damage
            values, rows = self._merged_front(metric, accuracy_column, bounds)
            fresh = [i for i in range(len(rows)) if rows[i].tobytes() not in self.tried]
            if not fresh:
                continue
            picks = _spread(values[fresh, 0], count, self.rounds)
            for i in picks:
                row = rows[fresh[i]]
                chosen.setdefault(row.tobytes(), row)
        if not chosen:
            return np.zeros((0, width), dtype=np.int64)
        stacked = np.stack(list(chosen.values()))
        cost = self._totals(metrics[0], stacked)
        picks = _spread(cost, count, 0)
        return stacked[picks[np.argsort(cost[picks], kind="stable")]]  # cheapest first

    def _merged_front(self, metric: str, accuracy_column: Sequence[FloatArray],
                      bounds: Mapping[str, float]) -> tuple[FloatArray, IntArray]:
        """The front of ``metric`` against the damage (and the bounded sums), all tuples.

        Returns:
            ``[n, 2 + n_bounded]`` values (cost, damage with the tuple's offset, the other
            bounded sums) and ``[n, 1 + n_layers]`` candidates, in each tuple's front order.

        """
        points: list[FloatArray] = []
        found: list[IntArray] = []
        for v, tables in enumerate(self.variants):
            limits = dict(bounds)
            extra = [m for m in limits if m != metric]
            # one group per layer; a channel-pruning pair is one group (its exact costs)
            groups, members = tables.group_values([metric, accuracy_column, *extra])
            front = knapsack_front(groups, upper_bounds=[limits.get(metric), None,
                                                         *(limits[m] for m in extra)],
                                   max_points=BOUNDED_POINTS if extra and len(
                                       self.variants) > 1 else KNAPSACK_POINTS)
            if not len(front):
                continue
            rows = tables.split_choices(front.choices, members)
            values = front.values.copy()
            values[:, 1] += self.offsets[self.groups[v]]
            points.append(values)
            found.append(np.column_stack([np.full(len(rows), v, dtype=np.int64), rows]))
        if not points:
            return np.zeros((0, 2)), np.zeros((0, 1 + len(self.tables.layers)), np.int64)
        values, rows = np.concatenate(points), np.concatenate(found)
        if len(points) > 1:  # what no tuple's point dominates, in the tuples' order
            keep = np.sort(non_dominated(values))
            values, rows = values[keep], rows[keep]
        return values, rows

    def _totals(self, metric: str, candidates: IntArray) -> FloatArray:
        """The metric's table sum of each candidate, on its own hardware tuple."""
        total = np.zeros(candidates.shape[0])
        for v in np.unique(candidates[:, 0]).tolist():
            mine = candidates[:, 0] == v
            total[mine] = self.variants[v].totals(metric, candidates[mine, 1:])
        return total

    def _damage(self, candidates: IntArray) -> FloatArray:
        """The surrogate's weighted damage of candidates, with their tuples' offsets."""
        damage: FloatArray = (self.surrogate.score(candidates[:, 1:])
                              + self.offsets[self.groups[candidates[:, 0]]])
        return damage

    def _cost_terms(self) -> tuple[list[str], dict[str, float]]:
        """The additive cost objectives, and upper bounds on additive metrics."""
        spec = self.run.study.spec
        base = self.run.baseline.metrics
        metrics = []
        for objective in spec.objectives:  # a reduction is dense / design: its cost is summed
            metric = REDUCTIONS.get(objective.metric, objective.metric)
            if metric in ADDITIVE_METRICS and metric not in metrics:
                metrics.append(metric)
        bounds: dict[str, float] = {}
        for constraint in spec.constraints:
            bound = constraint.additive_bound(base)
            if bound is None:
                continue
            metric, limit = bound
            if not metric_info(metric).summed(spec.latency_mode):
                continue  # pipelined latency is not a sum: checked on the trial instead
            bounds[metric] = min(limit, bounds.get(metric, math.inf))
        if spec.latency_mode != "layer_by_layer" and "latency_s" in metrics and len(metrics) > 1:
            metrics.remove("latency_s")  # the layer-by-layer sum stands in only when alone
        return metrics, bounds

    def _screen(self, candidates: IntArray, keep: int, steps: int) -> IntArray:
        """Successive halving: train every candidate briefly, keep the best of each group.

        Groups are neighbours by cost, so the survivors still span the front. Each design is
        trained (and, with hardware effects, scored) on its own hardware tuple.
        """
        run = self.run
        proposals = [self._proposal(row, "screen") for row in candidates]
        designs = run.study.space.decode_batch([p.values for p in proposals]).to_dicts()
        outcomes = run.evaluate(designs, steps)
        run.record_screened(list(zip(proposals, designs, outcomes, strict=True)), steps)
        for row in candidates:
            self.tried.add(row.tobytes())
        screened = np.array([o.value if o.ok else -np.inf for o in outcomes])
        if not np.isfinite(screened).any():
            return candidates[:0]
        groups = np.array_split(np.arange(len(candidates)), keep)
        survivors = []
        for group in groups:
            if group.size == 0:
                continue
            best = group[np.argmax(screened[group] - 1e-6 * self._damage(candidates[group]))]
            if np.isfinite(screened[best]):
                survivors.append(candidates[best])
        return np.stack(survivors) if survivors else candidates[:0]

    def _bred(self, n: int) -> list[Proposal]:
        """NSGA-II children of every trained design (also fill what the front cannot)."""
        proposals = []
        for _ in range(n):
            trial = self.book.ask()
            params = dict(trial.params)
            proposals.append(Proposal(values=self.book.codec.to_values(params), params=params,
                                      source="genetic", handle=trial))
        return proposals

    def _proposal(self, candidate: IntArray, source: str) -> Proposal:
        values = self.tables.values(candidate[None, 1:])[0]
        values.update(self._gene_params[int(candidate[0])])
        params = {k: values[k] for k in self.book.codec.choices}
        return Proposal(values=values, params=params, source=source)

    # ------------------------------------------------------------------ learning
    def tell(self, told: Sequence[Told]) -> list[dict[str, Any]]:
        """Refit the surrogate; add every trial to the genetic population.

        A bred trial is told as NSGA-II asked it; a surrogate's design is asked with its
        parameters fixed (NSGA-II gives it the generation it would give its own next trial)
        and told the same way.
        """
        attrs: list[dict[str, Any]] = []
        space = self.run.study.space
        for item in told:
            proposal = item.proposal
            trial = proposal.handle or self.book.ask_fixed(proposal.params)
            attrs.append(self.book.tell(trial, item))
            index = self.tables.index_of_values(proposal.values)
            variant = self._variant_of[tuple(
                int(proposal.values.get(_HW + g, space.hardware[g][0])) for g in self.genes)]
            self.tried.add(_key(variant, index))
            if item.values is not None and self.metric in item.metrics:
                self.observed_index.append(index)
                self.observed_variant.append(variant)
                self.observed_accuracy.append(item.metrics[self.metric])
        self._refit()
        return attrs

    def discard(self, proposals: Sequence[Proposal]) -> None:
        """Fail bred trials that were never evaluated (in memory only)."""
        for proposal in proposals:
            if proposal.handle is not None:
                self.book.fail(proposal.handle)

    def _observe(self, design: dict[str, Any], accuracy: float) -> None:
        try:
            variant, index = self._locate(design)
        except KeyError:  # a design outside this space (an old record): not used
            return
        self.observed_index.append(index)
        self.observed_variant.append(variant)
        self.observed_accuracy.append(accuracy)

    def _refit(self) -> None:
        """Refit the surrogate; then each accuracy group's offset (hardware effects only)."""
        if not self.observed_index:
            return
        index = np.stack(self.observed_index)
        if self.offsets.size == 1:
            self.surrogate.fit(index, self.observed_accuracy)
            return
        # backfitting: the layers' fit given the groups' offsets, then the offsets given it
        group = self.groups[np.asarray(self.observed_variant, dtype=np.int64)]
        count = np.bincount(group, minlength=self.offsets.size)
        offsets = np.zeros(self.offsets.size)
        for _ in range(BACKFIT_ROUNDS):
            self.surrogate.fit(index, self.observed_accuracy, known=offsets[group])
            excess = self.surrogate.excess_damage(index, self.observed_accuracy)
            total = np.bincount(group, weights=excess, minlength=self.offsets.size)
            offsets = total / (count + 1.0)  # shrunk toward 0 by one pseudo-design
        self.offsets = offsets

    def _locate(self, design: Mapping[str, Any]) -> tuple[int, IntArray]:
        """The hardware tuple and per-layer choices of a stored design.

        Raises:
            KeyError: If its hardware or a layer's choice is not in the space.

        """
        genes = design.get("hardware") or {}
        variant = self._variant_of[tuple(int(genes.get(g, 0)) for g in self.genes)]
        return variant, self.tables.index_of_design(design)

    def _key_of_design(self, design: dict[str, Any]) -> bytes:
        try:
            return _key(*self._locate(design))
        except KeyError:
            return b""


def accuracy_metric(run: RunContext) -> str:
    """The metric the surrogate follows: ``robust_accuracy`` with hardware effects."""
    accuracy = run.study.spec.accuracy
    return "robust_accuracy" if accuracy is not None and \
        accuracy.hardware_effects is not None else "accuracy"


def _accuracy_groups(run: RunContext, variants: Sequence[LayerTables]) -> IntArray:
    """Per hardware tuple, its accuracy group: tuples alike in ``ACCURACY_GENES`` share one.

    All tuples are one group without hardware effects (accuracy is then the ideal layer's).
    """
    accuracy = run.study.spec.accuracy
    if accuracy is None or accuracy.hardware_effects is None:
        return np.zeros(len(variants), dtype=np.int64)
    keys = [tuple(sorted((g, v) for g, v in t.hardware.items() if g in ACCURACY_GENES))
            for t in variants]
    first: dict[tuple[tuple[str, int], ...], int] = {}
    return np.array([first.setdefault(k, len(first)) for k in keys], dtype=np.int64)


def _key(variant: int, index: IntArray) -> bytes:
    """A candidate's identity: its hardware tuple and its choices."""
    return np.concatenate([[variant], index]).astype(np.int64).tobytes()


def measure_damage(run: RunContext, tables: LayerTables, samples: int, steps: int
                   ) -> list[FloatArray] | None:
    """Damage per layer and choice, from single-layer probes (factorized per layer).

    ``None`` if the run stopped while profiling.
    """
    reference_rows = [layer.fields[reference_choice(layer.fields)]
                      for layer in tables.layers]
    reference = _design_dict(run, reference_rows)
    probes: list[tuple[str, list[int]]] = []
    slots: list[dict[tuple[str, tuple[int, ...]], int]] = []
    for layer, ref in zip(tables.layers, reference_rows, strict=True):
        local: dict[tuple[str, tuple[int, ...]], int] = {}
        for row in layer.fields:
            for factor, key in _factors(row, ref):
                if (factor, key) in local or key == _factor_key(factor, ref):
                    continue
                probe = _probe(factor, key, ref)
                local[(factor, key)] = len(probes)
                probes.append((layer.name, _probe_choice(probe)))
        slots.append(local)
    measured = run.profile(reference, probes, samples, steps)
    if measured is None:
        return None
    base_loss = measured[0][0]
    loss = np.array([m[0] for m in measured[1:]]) - base_loss
    damage = []
    for layer, ref, local in zip(tables.layers, reference_rows, slots, strict=True):
        values = np.zeros(len(layer))
        for i, row in enumerate(layer.fields):
            for factor, key in _factors(row, ref):
                slot = local.get((factor, key))
                if slot is not None:
                    values[i] += max(float(loss[slot]), 0.0)
        damage.append(values)
    return damage


def _chance(run: RunContext) -> float:
    """Chance accuracy: the worst a trained design is expected to do (10 classes)."""
    return 0.1


_PRUNING = slice(len(DESIGN_FIELDS), len(CHOICE_FIELDS))


def _factor_key(factor: str, row: IntArray) -> tuple[int, ...]:
    if factor == "shape":
        return tuple(int(v) for v in row[:4])
    if factor == "pruning":
        return tuple(int(v) for v in row[_PRUNING])
    return (int(row[4 if factor == "weight_bits" else 5]),)


def _factors(row: IntArray, reference: IntArray) -> list[tuple[str, tuple[int, ...]]]:
    """The factors a choice differs from the reference in.

    Shape, pruning (a factor of its own: it applies to the dense shape), weight bits,
    activation bits.
    """
    return [(factor, _factor_key(factor, row))
            for factor in ("shape", "pruning", "weight_bits", "act_bits")
            if _factor_key(factor, row) != _factor_key(factor, reference)]


def _probe(factor: str, key: tuple[int, ...], reference: IntArray) -> IntArray:
    """The reference choice with one factor set to ``key``."""
    probe = reference.copy()
    if factor == "shape":
        probe[:4] = key
    elif factor == "pruning":
        probe[_PRUNING] = key
    elif factor == "weight_bits":
        probe[4] = key[0]
    else:
        probe[5] = key[0]
    return probe


def _probe_choice(probe: IntArray) -> list[int]:
    """A probe as ``LayerDesign``'s positional fields.

    The design fields; where it prunes, then one copy (``replication``) and the pruning fields.
    """
    values = [int(v) for v in probe]
    if not any(values[_PRUNING]):
        return values[: len(DESIGN_FIELDS)]
    return [*values[: len(DESIGN_FIELDS)], 1, *values[_PRUNING]]


def _design_dict(run: RunContext, rows: Sequence[Any]) -> dict[str, Any]:
    """A design (one choice row per compute layer) in the design file format."""
    names = [layer.name for layer in run.study.network.compute_layers]
    layers = {}
    for name, row in zip(names, rows, strict=True):
        entry = dict(zip(CHOICE_FIELDS, (int(v) for v in row), strict=True))
        for field in CHOICE_FIELDS[len(DESIGN_FIELDS):]:
            if not entry[field]:
                del entry[field]
        layers[name] = entry
    return {"network": run.study.network.name, "layers": layers}


def _spread(costs: FloatArray, count: int, offset: int) -> IntArray:
    """Up to ``count`` indices of ``costs`` spread evenly over log-cost.

    Targets follow the van der Corput sequence (shifted by ``offset`` so that successive
    rounds fill in between the earlier picks); each takes the nearest unpicked point.
    """
    costs = np.asarray(costs, dtype=np.float64)
    n = costs.size
    if n <= count:
        return np.arange(n)
    logs = np.log(np.maximum(costs, 1e-300))
    span = logs.max() - logs.min()
    position = (logs - logs.min()) / span if span > 0 else np.linspace(0.0, 1.0, n)
    free = np.ones(n, dtype=bool)
    order: list[int] = []
    for i in range(count):
        target = _van_der_corput(i + 1 + 7 * offset)
        best = int(np.argmin(np.where(free, np.abs(position - target), np.inf)))
        order.append(best)
        free[best] = False
    return np.asarray(order, dtype=np.int64)


def _van_der_corput(i: int, base: int = 2) -> float:
    value, denominator = 0.0, 1.0
    while i:
        i, remainder = divmod(i, base)
        denominator *= base
        value += remainder / denominator
    return value
