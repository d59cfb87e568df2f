"""The strategy of a study's sampler, built complete for a run."""

from __future__ import annotations

from epim.search._strategy import RunContext, Strategy


def make_strategy(run: RunContext) -> Strategy | None:
    """The strategy ``run``'s spec names, its state rebuilt from the run's stored trials.

    ``layerwise`` profiles its network first and ``exact`` solves its plan first; either
    returns ``None`` when the run stops before it is ready. The Optuna samplers are ready at
    once.
    """
    name = run.study.spec.sampler.name
    if name == "layerwise":
        from epim.search._layerwise import LayerwiseStrategy

        return LayerwiseStrategy.build(run)
    if name == "exact":
        from epim.search._exact import ExactStrategy

        return ExactStrategy.build(run)
    from epim.search._optuna import OptunaStrategy

    return OptunaStrategy(run)
