"""Optuna's samplers as a strategy, and the one way the engine talks to an Optuna study.

Optuna is told only through its public API. A trial the sampler proposes is ``ask``-ed; a
design proposed elsewhere (a hand-designed reference, the ``layerwise`` surrogate's front) is
``enqueue_trial``-ed and ``ask``-ed, and a genetic sampler gives it its generation with
``BaseGASampler.get_trial_generation`` (exactly as if it had sampled it); constraint values go
through ``Trial.set_constraint``; outcomes through ``tell``. Whatever per-trial state Optuna
writes (the constraints, NSGA-II's generation) is stored with the trial as Optuna left it
(``FrozenTrial.system_attrs``) and copied back on resume by ``add_trials``, the way
``optuna.copy_study`` copies trials between studies; the engine never names Optuna's keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import optuna
from optuna.trial import TrialState

from epim.search._codec import ParameterCodec
from epim.search._records import TrialRecord
from epim.search._sampler import make_sampler
from epim.search._strategy import Proposal, RunContext, Strategy, Told


class TrialBook:
    """An in-memory Optuna study of a study's stored trials, told through the public API.

    Args:
        sampler: The study's sampler.
        directions: The objectives' directions.
        codec: The parameters' encoding.
        records: Stored trials to copy in first (those of another encoding are skipped).

    """

    def __init__(self, sampler: optuna.samplers.BaseSampler,
                 directions: Sequence[Literal["minimize", "maximize"]],
                 codec: ParameterCodec, records: Sequence[TrialRecord] = ()) -> None:
        self.codec = codec
        self.study = optuna.create_study(directions=list(directions), sampler=sampler)
        self.study.add_trials(replayable(records, codec))
        self._queued: dict[int, frozenset[str]] = {}  # trial -> the queue's own attributes

    def ask(self) -> optuna.Trial:
        """A trial the sampler proposes."""
        return self.study.ask(self.codec.distributions)

    def ask_fixed(self, params: dict[str, Any]) -> optuna.Trial:
        """A trial of given parameters, in the sampler's generation if it is genetic.

        What the queue itself records on the trial (its fixed parameters, which the stored
        trial holds as its params anyway) is not part of the state :meth:`tell` returns.
        """
        self.study.enqueue_trial(params)
        trial = self.study.ask(self.codec.distributions)
        self._queued[trial.number] = frozenset(self._frozen(trial).system_attrs)
        sampler = self.study.sampler
        if isinstance(sampler, optuna.samplers.BaseGASampler):
            sampler.get_trial_generation(self.study, self._frozen(trial))
        return trial

    def tell(self, trial: optuna.Trial, told: Told) -> dict[str, Any]:
        """Tell an outcome with its constraints; returns the trial's state to store."""
        for j, value in enumerate(told.constraints):
            trial.set_constraint(f"c{j}", value)
        if told.values is None:
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, told.values)
        queued = self._queued.pop(trial.number, frozenset())
        return {k: v for k, v in self._frozen(trial).system_attrs.items() if k not in queued}

    def fail(self, trial: optuna.Trial) -> None:
        """Close a trial that was never evaluated (in memory only: never stored)."""
        self._queued.pop(trial.number, None)
        self.study.tell(trial, state=TrialState.FAIL)

    def _frozen(self, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
        return self.study.get_trials(deepcopy=False)[trial.number]


class OptunaStrategy(Strategy):
    """An Optuna sampler (NSGA-II/III, TPE, GP, random) over the study's parameters.

    Built complete for a run: the stored trials it can read are copied into an in-memory
    study (:class:`TrialBook`) with their parameters, values and the sampler's own per-trial
    state, so a resumed study samples on from where it was.

    Args:
        run: The run.
        sampler: The sampler's name when it is not the spec's (another strategy's fallback).

    """

    def __init__(self, run: RunContext, *, sampler: str | None = None) -> None:
        spec = run.study.spec
        if sampler is not None:
            spec = spec.model_copy(update={"sampler": spec.sampler.model_copy(
                update={"name": sampler})})
        else:
            run.announce("sampling", f"{spec.sampler.name} sampling")
        self.name = spec.sampler.name
        told = [r for r in run.records if r.state in ("complete", "failed")]
        self.book = TrialBook(make_sampler(spec, resumed_trials=len(told)),
                              run.study.directions,
                              ParameterCodec(run.study.space, spec.sampler.parameter_encoding),
                              told)
        if spec.sampler.warm_start:
            tried = [r.params for r in told]
            for values in run.study.space.uniform_choices():
                params = self.book.codec.from_values(values)
                if params not in tried and len(tried) < spec.budget.n_trials:
                    self.book.study.enqueue_trial(params)
                    tried.append(params)

    def propose(self, n: int) -> list[Proposal]:
        """Ask ``n`` trials."""
        proposals = []
        for _ in range(n):
            trial = self.book.ask()
            params = dict(trial.params)
            proposals.append(Proposal(values=self.book.codec.to_values(params), params=params,
                                      source=self.name, handle=trial))
        return proposals

    def tell(self, told: Sequence[Told]) -> list[dict[str, Any]]:
        """Tell values (or failure) and constraints; return each trial's state to store."""
        return [self.book.tell(item.proposal.handle, item) for item in told]

    def discard(self, proposals: Sequence[Proposal]) -> None:
        """Fail unevaluated trials in memory (never stored: a later run asks again)."""
        for proposal in proposals:
            self.book.fail(proposal.handle)


def replayable(records: Sequence[TrialRecord], codec: ParameterCodec
               ) -> list[optuna.trial.FrozenTrial]:
    """Stored trials as Optuna trials (records of another encoding are skipped).

    Each carries the state Optuna wrote for it (``system_attrs``), copied as it was stored.
    """
    replay = []
    for record in records:
        distributions = {k: codec.distributions[k] for k in record.params
                         if k in codec.distributions}
        try:
            replay.append(optuna.trial.create_trial(
                state=TrialState.COMPLETE if record.state == "complete" else TrialState.FAIL,
                params={k: record.params[k] for k in distributions},
                distributions=distributions, values=record.values,
                system_attrs=record.system_attrs))
        except ValueError:  # parameters of another space or encoding: counted, not replayed
            continue
    return replay
