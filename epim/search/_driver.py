"""The ask/tell driver: Optuna samples, the cost model scores batches, executors train proxies.

One study = one Optuna study in an RDB storage (SQLite file or PostgreSQL). Per batch: ask
``batch_size`` trials, decode them to a :class:`DesignBatch`, score the batch with the cost
model in one vectorized call, compute constraint values (``<= 0`` is feasible, told to Optuna
through ``constraints_func`` so NSGA-II/TPE/GP use them), run the accuracy proxy only for
feasible designs (on the executor, cached by design hash), tell every trial. Infeasible
designs are told, never failed and never trained. The feasible Pareto front and its
hypervolume are kept in the study's user attributes.

Resuming: trials a killed process left RUNNING are failed (marked interrupted) and do not
count; completed trials and evaluation failures count toward ``n_trials``; the spec and the
sampler's settings are stored with the study and must match.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from epim.cost_model import CostModel, load_hardware
from epim.errors import InputError
from epim.search._metrics import cost_metrics, normalized
from epim.search._pareto import hypervolume, non_dominated
from epim.search._spec import HIGHER_IS_BETTER, StudySpec
from epim.search.executors import Executor
from epim.space import Design, DesignBatch, LayerDesign, LayerOptions, SearchSpace
from epim.workloads import Network, get_network, network_from_dict, network_to_dict

ATTR_SPEC = "epim_spec"
ATTR_FRONT = "epim_front"
ATTR_HV = "epim_hypervolume"
ATTR_BASELINE = "epim_baseline"
ATTR_PROGRESS = "epim_progress"
TRIAL_ATTR = "epim"  #: one user attribute per trial: metrics, design, constraints, ...
optuna.logging.set_verbosity(optuna.logging.WARNING)


class AccuracyEvaluator(Protocol):
    """A picklable callable scoring one design: ``(network dict, design dict) -> accuracy``."""

    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> float:
        """Return the proxy accuracy (or zero-cost score) of the design."""


@dataclass(frozen=True)
class Progress:
    """Where a study stands.

    Attributes:
        completed: Trials finished (told with values, or failed by an evaluation error).
        feasible: Completed trials that meet every constraint.
        failed: Trials whose evaluation failed after its retries.
        front_size: Feasible non-dominated trials.
        hypervolume: Of the feasible front, normalized objectives, reference point 1.
        n_trials: The budget.
        elapsed_s: Wall time of this run (s).

    """

    completed: int
    feasible: int
    failed: int
    front_size: int
    hypervolume: float
    n_trials: int
    elapsed_s: float

    @property
    def eta_s(self) -> float | None:
        """Estimated seconds left at this run's pace (``None`` before any trial)."""
        done = self.completed
        if done <= 0 or self.elapsed_s <= 0:
            return None
        return max(0.0, (self.n_trials - done) * self.elapsed_s / max(done, 1))


def make_sampler(spec: StudySpec) -> optuna.samplers.BaseSampler:
    """The sampler the spec names, with its seed.

    Constraints reach the constraint-aware samplers (NSGA-II/III, TPE, GP) through
    ``Trial.set_constraint`` before each trial is told (Optuna 5).
    """
    settings = spec.sampler
    seed = settings.seed
    population = settings.population_size or default_population(spec.budget.n_trials)
    if settings.name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    if settings.name == "nsga3":
        return optuna.samplers.NSGAIIISampler(population_size=population, seed=seed)
    if settings.name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if settings.name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def default_population(n_trials: int) -> int:
    """NSGA-II/III population when the spec gives none: ``n_trials // 100`` within 10..50.

    More generations beat larger populations at study-sized budgets: on resnet18 (1000
    trials, cost-only) population 10 reached hypervolume 0.628, 20: 0.624, 50: 0.609.
    """
    return max(10, min(50, n_trials // 100))


def resolve_network(spec: StudySpec) -> Network:
    """The spec's network (built-in name or inline file format)."""
    if isinstance(spec.network, str):
        return get_network(spec.network)
    return network_from_dict(spec.network)


def build_space(spec: StudySpec, network: Network) -> SearchSpace:
    """The spec's search space (aligned to the spec's crossbar size)."""
    hardware = load_hardware(spec.hardware.preset, spec.hardware.set)
    space = spec.space
    act = space.activation_bits
    options = LayerOptions(
        channel_ratios=tuple(space.epitome.channel_ratios),
        channels=tuple(space.epitome.channels), spatial=space.epitome.spatial,
        spatial_growth=tuple(space.epitome.spatial_growth),
        pim_aligned=space.epitome.pim_aligned, weight_bits=tuple(space.weight_bits),
        activation_bits=tuple(act) if isinstance(act, list) else (act,))
    overrides = {pattern: {k: v for k, v in override.model_dump().items() if v is not None}
                 for pattern, override in space.overrides.items()}
    for fields in overrides.values():
        if "activation_bits" in fields:
            fields["activation_bits"] = tuple(fields["activation_bits"])
    return SearchSpace.build(network, options=options, frozen=space.frozen,
                             frozen_bits=space.frozen_bits, overrides=overrides,
                             xbar_rows=int(hardware["xbar_rows"]),
                             xbar_cols=int(hardware["xbar_cols"]))


def design_payload(design: Design) -> dict[str, list[int]]:
    """A compact design: layer -> [Cin_E, Cout_E, P, Q, weight bits, act bits, offsets]."""
    return {name: list(choice.as_tuple()) for name, choice in design.layers.items()}


def design_from_payload(network: Network, payload: Mapping[str, Sequence[int]]) -> Design:
    """The inverse of :func:`design_payload`."""
    return Design(network.name, {name: LayerDesign(*(int(v) for v in values))
                                 for name, values in payload.items()})


BatchCallback = Callable[[list["TrialRecord"], list[dict[str, list[float]]],
                          list["TrialRecord"], "Progress"], None]


class StudyDriver:
    """Runs one study to its budget (or until stopped), resumably.

    Args:
        spec: The study.
        storage: An Optuna storage or RDB URL (``sqlite:///...``, ``postgresql+psycopg://...``).
        executor: Where proxy evaluations run.
        accuracy: Scores a design (needed when the spec uses accuracy metrics).
        study_name: Optuna study name (default: the spec's name).

    """

    def __init__(self, spec: StudySpec, *, storage: str | optuna.storages.BaseStorage,
                 executor: Executor, accuracy: AccuracyEvaluator | None = None,
                 study_name: str | None = None) -> None:
        if spec.needs_accuracy and accuracy is None:
            raise InputError("the spec uses accuracy but no evaluator was given",
                             field="accuracy", expected="an accuracy evaluator")
        self.spec = spec
        self.executor = executor
        self.accuracy = accuracy
        self.network = resolve_network(spec)
        self.network_dict = network_to_dict(self.network)  # what evaluators receive
        self.space = build_space(spec, self.network)
        self.hardware = load_hardware(spec.hardware.preset, spec.hardware.set)
        self.model = CostModel(network=self.network, hardware=self.hardware)
        self.metrics = [o.metric for o in spec.objectives]
        self.directions: list[str] = [o.direction for o in spec.objectives]
        self.distributions: dict[str, BaseDistribution] = {
            name: CategoricalDistribution(list(choices))
            for name, choices in self.space.parameters().items()}
        self.storage = open_storage(storage) if isinstance(storage, str) else storage
        self.study_name = study_name or spec.name
        self.study = optuna.create_study(
            storage=self.storage, study_name=self.study_name,
            directions=[o.direction for o in spec.objectives],
            sampler=make_sampler(spec), load_if_exists=True)
        # A genetic sampler breeds one generation from the last: asking more trials than a
        # population before telling them only repeats the same parents.
        self.batch_size = spec.batch_size
        if spec.sampler.name in ("nsga2", "nsga3"):
            self.batch_size = min(spec.batch_size, spec.sampler.population_size
                                  or default_population(spec.budget.n_trials))
        fresh = ATTR_SPEC not in self.study.user_attrs
        self._check_or_store_spec()
        self.baseline = self._baseline()
        if fresh and spec.sampler.warm_start:
            for params in self.space.uniform_choices()[: spec.budget.n_trials]:
                self.study.enqueue_trial(params)
        self.records: list[TrialRecord] = []
        self.front: list[TrialRecord] = []
        self._recovered = False

    # ----------------------------------------------------------------- set-up
    def _check_or_store_spec(self) -> None:
        stored = self.study.user_attrs.get(ATTR_SPEC)
        current = self.spec.model_dump(mode="json")
        if stored is None:
            self.study.set_user_attr(ATTR_SPEC, current)
        elif stored != current:
            raise InputError(f"a study named '{self.study_name}' exists with another spec",
                             field="name", expected="a new name, or the stored spec unchanged")

    def _baseline(self) -> dict[str, float]:
        stored = self.study.user_attrs.get(ATTR_BASELINE)
        if stored is not None:
            return dict(stored)
        bits = self.spec.baseline_bits
        costs = self.model.evaluate(DesignBatch.dense(self.network, 1, bits, bits))
        values = {k: float(v[0]) for k, v in cost_metrics(
            costs, {"crossbar_area_m2": 1.0, "energy_j": 1.0, "latency_s": 1.0},
            self.spec.latency_mode).items()}
        baseline = {k: values[k] for k in ("crossbars", "crossbar_area_m2", "area_m2",
                                           "latency_s", "energy_j", "edp", "params")}
        if self.spec.needs_accuracy:
            assert self.accuracy is not None
            dense = Design.dense(self.network, bits, bits)
            outcome = self.executor.map(self.accuracy, [(self.network_dict,
                                                         design_payload_full(dense))])[0]
            if not outcome.ok:
                raise InputError(f"the dense baseline's proxy failed: {outcome.error}",
                                 field="accuracy")
            baseline["accuracy"] = float(outcome.value)
            baseline["accuracy_scale"] = (1.0 if self.spec.accuracy and
                                          self.spec.accuracy.proxy == "train"
                                          else float(outcome.value))
        self.study.set_user_attr(ATTR_BASELINE, baseline)
        return baseline

    # ----------------------------------------------------------------- state
    def recover(self) -> None:
        """Fail the trials a killed process left RUNNING (they do not count), load records.

        ``run`` does this first unless it was already done (e.g. by a runner that stores the
        recovered records before running).
        """
        self._recovered = True
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.study._storage.set_trial_user_attr(trial._trial_id, "epim_interrupted", True)
            self.study.tell(trial.number, state=TrialState.FAIL)
        self.records = [record for trial in self.study.get_trials(deepcopy=False)
                        if (record := TrialRecord.from_trial(trial)) is not None]
        self._update_front()

    def _accuracy_cache(self) -> dict[str, float]:
        return {r.design_hash: r.metrics["accuracy"] for r in self.records
                if r.accuracy_evaluated and r.error is None}

    # ----------------------------------------------------------------- loop
    def run(self, *, on_progress: Callable[[Progress], None] | None = None,
            should_stop: Callable[[], bool] | None = None,
            on_batch: BatchCallback | None = None) -> Progress:
        """Run until the budget is spent, the timeout passes or ``should_stop()`` is true.

        Args:
            on_progress: Called with the counters after every batch.
            should_stop: Polled before every batch (cancellation, shutdown).
            on_batch: Called after every batch with the batch's records, their per-layer
                breakdowns (``layer_breakdown``), the current front and the counters.

        """
        if not self._recovered:
            self.recover()
        start = time.monotonic()
        accuracy_cache = self._accuracy_cache()
        progress = self.progress(start)
        while progress.completed < self.spec.budget.n_trials:
            if should_stop is not None and should_stop():
                break
            if (self.spec.budget.timeout_s is not None
                    and time.monotonic() - start >= self.spec.budget.timeout_s):
                break
            size = min(self.batch_size, self.spec.budget.n_trials - progress.completed)
            batch = self.run_batch(size, accuracy_cache)
            progress = self.progress(start)
            self.study.set_user_attr(ATTR_PROGRESS, asdict(progress))
            if on_batch is not None:
                on_batch(batch, self.layer_breakdown(batch), self.front, progress)
            if on_progress is not None:
                on_progress(progress)
        return progress

    def layer_breakdown(self, records: Sequence[TrialRecord]) -> list[dict[str, list[float]]]:
        """Per-layer crossbars, tiles, latency (s) and energy (J) of each record's design.

        Lists follow ``self.network.layers``; the cost model recomputes them from the design.
        """
        if not records:
            return []
        designs = [design_from_payload(self.network, r.design) for r in records]
        costs = self.model.evaluate(DesignBatch.from_designs(self.network, designs))
        return [{"crossbars": costs.layer_crossbars[i].tolist(),
                 "tiles": costs.layer_tiles[i].tolist(),
                 "latency_s": costs.layer_latency_s[i].tolist(),
                 "energy_j": costs.layer_energy_j[i].tolist()} for i in range(len(records))]

    def run_batch(self, size: int, accuracy_cache: dict[str, float]) -> list[TrialRecord]:
        """Ask, score, evaluate and tell one batch of ``size`` trials; returns its records."""
        trials = [self.study.ask(self.distributions) for _ in range(size)]
        designs = self.space.decode_batch([t.params for t in trials])
        metrics = cost_metrics(self.model.evaluate(designs), self.baseline,
                               self.spec.latency_mode)
        rows = [{k: float(v[i]) for k, v in metrics.items()} for i in range(size)]
        decoded = [designs.design(i) for i in range(size)]
        hashes = [d.digest() for d in decoded]
        cost_ok = [self._cost_feasible(row) for row in rows]
        errors, nodes = self._evaluate_accuracy(decoded, hashes, cost_ok, accuracy_cache)
        told: list[TrialRecord] = []
        for i, trial in enumerate(trials):
            row = rows[i]
            evaluated = cost_ok[i] and hashes[i] in accuracy_cache
            if self.spec.needs_accuracy:
                # Never trained (infeasible by cost, or failed): the worst value, so that
                # samplers learn from the constraint violations instead.
                worst = 0.0 if self.baseline.get("accuracy_scale", 1.0) == 1.0 else -1e9
                row["accuracy"] = accuracy_cache[hashes[i]] if evaluated else worst
                row["accuracy_drop"] = self.baseline["accuracy"] - row["accuracy"]
            constraints = self._constraint_values(row)
            record = TrialRecord(number=trial.number, metrics=row,
                                 design=design_payload(decoded[i]), design_hash=hashes[i],
                                 constraints=constraints,
                                 feasible=all(c <= 0 for c in constraints),
                                 accuracy_evaluated=bool(evaluated), error=errors.get(i),
                                 node=nodes.get(i))
            trial.set_user_attr(TRIAL_ATTR, record.to_attr())
            for j, value in enumerate(constraints):
                trial.set_constraint(f"c{j}", value)
            if record.error is not None:
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                self.study.tell(trial, [row[m] for m in self.metrics])
            self.records.append(record)
            told.append(record)
        self._update_front()
        return told

    def _evaluate_accuracy(self, designs: Sequence[Design], hashes: Sequence[str],
                           cost_ok: Sequence[bool], cache: dict[str, float]
                           ) -> tuple[dict[int, str], dict[int, str]]:
        """Run the proxy for feasible designs not in ``cache`` (one run per distinct design).

        Returns:
            Trial index -> error text, for evaluations that failed after their retries; and
            trial index -> the node the evaluation ran on.

        """
        if not self.spec.needs_accuracy:
            return {}, {}
        needs = [i for i in range(len(designs)) if cost_ok[i] and hashes[i] not in cache]
        if not needs:
            return {}, {}
        assert self.accuracy is not None
        unique = {hashes[i]: i for i in needs}
        outcomes = self.executor.map(self.accuracy,
                                     [(self.network_dict, design_payload_full(designs[i]))
                                      for i in unique.values()])
        failed: dict[str, str] = {}
        where: dict[str, str] = {}
        for digest, outcome in zip(unique, outcomes, strict=True):
            if outcome.node:
                where[digest] = outcome.node
            if outcome.ok:
                cache[digest] = float(outcome.value)
            else:
                failed[digest] = outcome.error or "unknown error"
        return ({i: failed[hashes[i]] for i in needs if hashes[i] in failed},
                {i: where[hashes[i]] for i in needs if hashes[i] in where})

    def _cost_feasible(self, row: Mapping[str, float]) -> bool:
        for constraint in self.spec.constraints:
            if constraint.metric in ("accuracy", "accuracy_drop"):
                continue
            value = row[constraint.metric]
            if constraint.max is not None and value > constraint.max:
                return False
            if constraint.min is not None and value < constraint.min:
                return False
        return True

    def _constraint_values(self, row: Mapping[str, float]) -> list[float]:
        """One value per bound, ``<= 0`` feasible, scaled by the bound's magnitude."""
        values = []
        for constraint in self.spec.constraints:
            value = row[constraint.metric]
            if constraint.max is not None:
                values.append((value - constraint.max) / (abs(constraint.max) or 1.0))
            if constraint.min is not None:
                values.append((constraint.min - value) / (abs(constraint.min) or 1.0))
        return values

    # ----------------------------------------------------------------- front
    def _update_front(self) -> None:
        feasible = [r for r in self.records if r.feasible and r.error is None]
        front, volume = pareto_front(feasible, self.metrics, self.directions, self.baseline)
        self.front = front
        self.study.set_user_attr(ATTR_FRONT, [r.number for r in front])
        self.study.set_user_attr(ATTR_HV, volume)

    def progress(self, start: float | None = None) -> Progress:
        """The study's counters now (from the records of this run and the stored trials)."""
        return Progress(
            completed=len(self.records),
            feasible=sum(1 for r in self.records if r.feasible and r.error is None),
            failed=sum(1 for r in self.records if r.error is not None),
            front_size=len(self.front),
            hypervolume=float(self.study.user_attrs.get(ATTR_HV, 0.0)),
            n_trials=self.spec.budget.n_trials,
            elapsed_s=0.0 if start is None else time.monotonic() - start,
        )


@dataclass(frozen=True)
class TrialRecord:
    """What the driver stores with a trial (one user attribute, ``TRIAL_ATTR``).

    Attributes:
        number: Optuna trial number.
        metrics: Every metric of the design (SI units; accuracy when a proxy ran).
        design: Compact design (``design_payload``).
        design_hash: ``Design.digest()``.
        constraints: Constraint values (``<= 0`` feasible).
        feasible: All constraints met.
        accuracy_evaluated: The proxy ran (or came from the cache) for this design.
        error: The evaluation's error after its retries (the trial is then failed).
        node: Where the proxy evaluation ran (host or Ray node id), when it ran for this trial.

    """

    number: int
    metrics: dict[str, float]
    design: dict[str, list[int]]
    design_hash: str
    constraints: list[float]
    feasible: bool
    accuracy_evaluated: bool
    error: str | None = None
    node: str | None = None

    def to_attr(self) -> dict[str, Any]:
        """The record as stored (without the trial number)."""
        data = asdict(self)
        del data["number"]
        return data

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> TrialRecord | None:
        """The record of a finished trial that counts toward the budget, else ``None``."""
        data = trial.user_attrs.get(TRIAL_ATTR)
        if data is None or trial.state not in (TrialState.COMPLETE, TrialState.FAIL):
            return None
        if trial.state == TrialState.FAIL and data.get("error") is None:
            return None
        return cls(number=trial.number, **data)


def design_payload_full(design: Design) -> dict[str, Any]:
    """A design in the design file format (what evaluators receive)."""
    return design.to_dict()


def pareto_front(records: Sequence[TrialRecord], metrics: Sequence[str],
                 directions: Sequence[str], baseline: Mapping[str, float]
                 ) -> tuple[list[TrialRecord], float]:
    """The non-dominated records among ``records`` and their normalized hypervolume.

    Hypervolume: each objective normalized by ``normalized`` (1.0 = the reference point: the
    dense baseline's cost, zero accuracy), reference point all ones.
    """
    if not records:
        return [], 0.0
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    raw = np.array([[r.metrics[m] for m in metrics] for r in records])
    front_index = non_dominated(raw * signs)
    points = np.array([[normalized(m, float(v), baseline)
                        for m, v in zip(metrics, raw[i], strict=True)] for i in front_index])
    for j, metric in enumerate(metrics):  # a metric optimized against its nature
        if (directions[j] == "maximize") != (metric in HIGHER_IS_BETTER):
            points[:, j] = 2.0 - points[:, j]
    finite = np.all(np.isfinite(points), axis=1)
    volume = hypervolume(points[finite], np.ones(len(metrics))) if finite.any() else 0.0
    return [records[i] for i in front_index], float(volume)


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage on ``url`` (SQLite with a busy timeout, PostgreSQL pre-pinged)."""
    kwargs: dict[str, Any] = ({"connect_args": {"timeout": 60}} if url.startswith("sqlite")
                              else {"pool_pre_ping": True})
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)

