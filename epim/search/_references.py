"""The uniform hand designs a study evaluates first, as a strategy of their own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna

from epim.search._codec import ParameterCodec
from epim.search._constraints import cost_feasible
from epim.search._metrics import cost_metrics
from epim.search._optuna import TrialBook
from epim.search._prepare import PreparedStudy
from epim.search._records import Baseline, TrialRecord
from epim.search._sampler import genetic_sampler
from epim.search._strategy import Proposal, Strategy, Told


class References(Strategy):
    """The uniform hand designs of the study's space that meet its cost constraints.

    Evaluated before the study's strategy is built (trained with the study's proxy when it
    has one), as ordinary trials of source ``reference``: counted in the budget, on the front
    when nothing beats them, and replayed into the strategy like its own trials. They are
    told to an Optuna study of the strategy's genetic sampler (:func:`genetic_sampler`), all
    asked before any is told: to NSGA-II they are one generation asked together (the first,
    in a fresh study), so the genetic samplers breed from them. Designs stored already (an
    earlier run, or a sampler's trial) are not evaluated again.

    Args:
        study: The prepared study.
        baseline: Its dense baseline.
        records: Its stored trials.
        enabled: Whether to evaluate references at all.

    """

    name = "reference"

    def __init__(self, study: PreparedStudy, baseline: Baseline,
                 records: Sequence[TrialRecord], *, enabled: bool = True) -> None:
        spec = study.spec
        encoding = "categorical" if spec.sampler.name in ("layerwise", "exact") \
            else spec.sampler.parameter_encoding
        codec = ParameterCodec(study.space, encoding)
        choices = study.space.uniform_choices() if enabled else []
        self.pending: list[Proposal] = []
        if not choices:
            return
        designs = study.space.decode_batch(choices)
        costs = study.model.evaluate(designs)
        metrics = cost_metrics(costs, baseline.metrics, spec.latency_mode)
        ok = cost_feasible(spec.constraints, metrics, len(choices))
        if study.space.chip is not None:
            over = study.space.chip.violation(costs.tiles, costs.area_m2)
            ok = [good and bool(over[i] <= 0) for i, good in enumerate(ok)]
        seen = {r.design_hash for r in records}
        params = []
        for choice, digest, good in zip(choices, designs.digests(), ok, strict=True):
            if good and digest not in seen:
                seen.add(digest)
                params.append((dict(choice), codec.from_values(choice)))
        if not params:
            return
        sampler = genetic_sampler(spec) or optuna.samplers.RandomSampler()
        told = [r for r in records if r.state in ("complete", "failed")]
        self.book = TrialBook(sampler, study.directions, codec, told)
        self.pending = [Proposal(values=values, params=fixed, source="reference",
                                 handle=self.book.ask_fixed(fixed)) for values, fixed in params]

    def take(self, n: int) -> list[Proposal]:
        """The next ``n`` references."""
        taken, self.pending = self.pending[:n], self.pending[n:]
        return taken

    def propose(self, n: int) -> list[Proposal]:
        """The next ``n`` references."""
        return self.take(n)

    def tell(self, told: Sequence[Told]) -> list[dict[str, Any]]:
        """Tell each reference's outcome; its Optuna state is what the strategy replays."""
        return [self.book.tell(item.proposal.handle, item) for item in told]

    def discard(self, proposals: Sequence[Proposal]) -> None:
        """Unevaluated references go back to the head of the queue, asked anew."""
        for proposal in proposals:
            self.book.fail(proposal.handle)
        self.pending = [Proposal(values=p.values, params=p.params, source=p.source,
                                 handle=self.book.ask_fixed(p.params))
                        for p in proposals] + self.pending
