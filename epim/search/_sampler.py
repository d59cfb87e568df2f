"""The Optuna samplers a spec can name, with their settings."""

from __future__ import annotations

import optuna

from epim.search._spec import StudySpec

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: Samplers that breed one generation from the last (asking more than a population of trials
#: before telling them only repeats the same parents).
GENETIC = frozenset({"nsga2", "nsga3"})
#: Most searched parameters a sampler is asked to handle, for samplers whose cost per ask
#: grows fast with them. Optuna's GP sampler fits a Gaussian process with one length scale
#: per parameter and optimizes its acquisition over all of them on every ask, and an ask
#: cannot be interrupted. Measured with 10 told trials, categorical parameters, one torch
#: thread, on a shared two-core machine: an ask took 2-5 s at 16 parameters, 9-14 s at 64,
#: 26-76 s at 256; at about 1,000 a study made no progress in 6 minutes.
MAX_SAMPLER_PARAMETERS: dict[str, int] = {"gp": 64}


def sampler_limits_error(spec: StudySpec, n_parameters: int) -> str | None:
    """Why the spec's sampler cannot take ``n_parameters`` searched parameters, or ``None``.

    The message names ``sampler.name`` and the limit (for a 422 at submission; a runner
    fails a stored study with it rather than hang in the sampler).
    """
    limit = MAX_SAMPLER_PARAMETERS.get(spec.sampler.name)
    if limit is None or n_parameters <= limit:
        return None
    return (f"sampler.name '{spec.sampler.name}' takes at most {limit} searched parameters, "
            f"the space has {n_parameters}: freeze layers or fix fields, or use nsga2, tpe "
            "or layerwise")


def make_sampler(spec: StudySpec, *, resumed_trials: int = 0) -> optuna.samplers.BaseSampler:
    """The sampler the spec names, seeded.

    Constraints reach the constraint-aware samplers (NSGA-II/III, TPE, GP) through the trials'
    ``constraints`` system attributes (``Trial.set_constraint``).

    Args:
        spec: The study.
        resumed_trials: Trials already told (on resume). The seed is offset by it so that a
            resumed study does not draw the designs of its first run again.

    """
    settings = spec.sampler
    seed = None if settings.seed is None else (settings.seed + resumed_trials) % 2**32
    if settings.name in GENETIC:
        population = population_size(spec)
        if settings.name == "nsga2":
            return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
        return optuna.samplers.NSGAIIISampler(population_size=population, seed=seed)
    if settings.name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if settings.name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def layerwise_population(spec: StudySpec) -> int:
    """The population of the ``layerwise`` engine's NSGA-II breeding: a batch, at least 4."""
    return max(4, spec.batch_size)


def genetic_sampler(spec: StudySpec, *, seed: int | None = None
                    ) -> optuna.samplers.BaseGASampler | None:
    """The genetic sampler whose generations a study's trials belong to, if it has one.

    NSGA-II/III for those samplers, the ``layerwise`` engine's NSGA-II breeding, and the
    ``exact`` engine's NSGA-II fallback; ``None`` for TPE, GP and random. Its generations are
    what the study's hand-designed references are told as.
    """
    name = spec.sampler.name
    if name == "nsga3":
        return optuna.samplers.NSGAIIISampler(population_size=population_size(spec), seed=seed)
    if name in ("nsga2", "exact"):
        return optuna.samplers.NSGAIISampler(population_size=population_size(spec), seed=seed)
    if name == "layerwise":
        return optuna.samplers.NSGAIISampler(population_size=layerwise_population(spec),
                                             seed=seed)
    return None


def population_size(spec: StudySpec) -> int:
    """The genetic samplers' population: the spec's, else :func:`default_population`."""
    return spec.sampler.population_size or default_population(spec.budget.n_trials)


def default_population(n_trials: int) -> int:
    """NSGA-II/III population when the spec gives none: ``n_trials // 100`` within 10..50.

    More generations beat larger populations at study-sized budgets: on resnet18 (1000
    trials, cost-only) population 10 reached hypervolume 0.628, 20: 0.624, 50: 0.609.
    """
    return max(10, min(50, n_trials // 100))


def batch_size(spec: StudySpec) -> int:
    """Trials asked and scored together: the spec's, at most a population for GA samplers."""
    if spec.sampler.name in GENETIC:
        return min(spec.batch_size, population_size(spec))
    return spec.batch_size
