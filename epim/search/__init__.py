"""Multi-objective search: study specs, the ask/tell driver, Pareto fronts, executors."""

from epim.search._codec import ParameterCodec
from epim.search._driver import RunResult, StudyDriver
from epim.search._factory import make_strategy
from epim.search._limits import StudyLimits
from epim.search._metrics import cost_metrics
from epim.search._pareto import (
    front_indices,
    hypervolume,
    non_dominated,
    normalized_hypervolume,
)
from epim.search._prepare import PreparedStudy, build_space, prepare_study
from epim.search._records import (
    Baseline,
    Counters,
    MemoryStore,
    Progress,
    StoredStudy,
    StudyStore,
    TrialRecord,
)
from epim.search._sampler import (
    MAX_SAMPLER_PARAMETERS,
    default_population,
    make_sampler,
    sampler_limits_error,
)
from epim.search._spec import (
    HIGHER_IS_BETTER,
    METRICS,
    ROBUST_METRICS,
    SAMPLERS,
    Metric,
    StudySpec,
    refuse_unstorable_text,
)
from epim.search._strategy import (
    AccuracyEvaluator,
    Proposal,
    RunContext,
    Strategy,
    Told,
    TrainingProxy,
)

__all__ = [
    "HIGHER_IS_BETTER",
    "MAX_SAMPLER_PARAMETERS",
    "METRICS",
    "ROBUST_METRICS",
    "SAMPLERS",
    "AccuracyEvaluator",
    "Baseline",
    "Counters",
    "MemoryStore",
    "Metric",
    "ParameterCodec",
    "PreparedStudy",
    "Progress",
    "Proposal",
    "RunContext",
    "RunResult",
    "StoredStudy",
    "Strategy",
    "StudyDriver",
    "StudyLimits",
    "StudySpec",
    "StudyStore",
    "Told",
    "TrainingProxy",
    "TrialRecord",
    "build_space",
    "cost_metrics",
    "default_population",
    "front_indices",
    "hypervolume",
    "make_sampler",
    "make_strategy",
    "non_dominated",
    "normalized_hypervolume",
    "prepare_study",
    "refuse_unstorable_text",
    "sampler_limits_error",
]
