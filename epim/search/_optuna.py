"""Optuna's samplers as a strategy: ask/tell on an in-memory study rebuilt from the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from epim.search._codec import ParameterCodec
from epim.search._records import TrialRecord
from epim.search._sampler import make_sampler
from epim.search._strategy import Proposal, RunContext, Strategy, Told


class OptunaStrategy(Strategy):
    """An Optuna sampler (NSGA-II/III, TPE, GP, random) over the study's parameters.

    ``sampler`` names the sampler when it is not the spec's (a fallback of another strategy).

    Its state lives in memory: on :meth:`begin` the stored trials it proposed are replayed
    (``Study.add_trials``) with their parameters, values, constraints and the sampler's own
    per-trial state (NSGA-II's generation), so a resumed study samples on from where it was.
    """

    def __init__(self, sampler: str | None = None) -> None:
        self.study: optuna.Study | None = None
        self.codec: ParameterCodec | None = None
        self._sampler = sampler

    @property
    def name(self) -> str:  # type: ignore[override]
        """The sampler's name (from the spec)."""
        return self._name

    def begin(self, run: RunContext) -> bool:
        """Create the in-memory study and replay the stored trials."""
        spec = run.study.spec
        if self._sampler is not None:  # another strategy's fallback
            spec = spec.model_copy(update={"sampler": spec.sampler.model_copy(
                update={"name": self._sampler})})
        else:
            run.announce("sampling", f"{spec.sampler.name} sampling")
        self._name = spec.sampler.name
        self.codec = ParameterCodec(run.study.space, spec.sampler.parameter_encoding)
        told = [r for r in run.records if r.state in ("complete", "failed")]
        self.study = optuna.create_study(directions=run.study.directions,
                                         sampler=make_sampler(spec, resumed_trials=len(told)))
        self.study.add_trials(replayable(told, self.codec))
        if spec.sampler.warm_start:
            tried = [r.params for r in told]
            for values in run.study.space.uniform_choices():
                params = self.codec.from_values(values)
                if params not in tried and len(tried) < spec.budget.n_trials:
                    self.study.enqueue_trial(params)
                    tried.append(params)
        return True

    def propose(self, n: int) -> list[Proposal]:
        """Ask ``n`` trials."""
        assert self.study is not None and self.codec is not None
        proposals = []
        for _ in range(n):
            trial = self.study.ask(self.codec.distributions)
            params = dict(trial.params)
            proposals.append(Proposal(values=self.codec.to_values(params), params=params,
                                      source=self.name, handle=trial))
        return proposals

    def tell(self, told: Sequence[Told]) -> list[dict[str, Any]]:
        """Tell values (or failure) and constraints; return each trial's system attributes."""
        assert self.study is not None
        for item in told:
            trial = item.proposal.handle
            for j, value in enumerate(item.constraints):
                trial.set_constraint(f"c{j}", value)
            if item.values is None:
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                self.study.tell(trial, item.values)
        frozen = self.study.get_trials(deepcopy=False)
        return [dict(frozen[item.proposal.handle.number].system_attrs) for item in told]

    def discard(self, proposals: Sequence[Proposal]) -> None:
        """Fail unevaluated trials in memory (never stored: a later run asks again)."""
        assert self.study is not None
        for proposal in proposals:
            self.study.tell(proposal.handle, state=TrialState.FAIL)


def replayable(records: Sequence[TrialRecord], codec: ParameterCodec
               ) -> list[optuna.trial.FrozenTrial]:
    """Stored trials as Optuna trials (records of another encoding are skipped)."""
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
