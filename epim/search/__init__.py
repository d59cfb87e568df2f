"""Multi-objective search: study specs, the ask/tell driver, Pareto fronts, executors."""

from epim.search._codec import ParameterCodec
from epim.search._driver import AccuracyEvaluator, RunResult, StudyDriver
from epim.search._limits import StudyLimits
from epim.search._pareto import (
    front_indices,
    hypervolume,
    non_dominated,
    normalized_hypervolume,
)
from epim.search._prepare import PreparedStudy, build_space, prepare_study
from epim.search._records import (
    Baseline,
    MemoryStore,
    Progress,
    StoredStudy,
    StudyStore,
    TrialRecord,
)
from epim.search._sampler import default_population, make_sampler
from epim.search._spec import HIGHER_IS_BETTER, METRICS, SAMPLERS, Metric, StudySpec

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "SAMPLERS",
    "AccuracyEvaluator",
    "Baseline",
    "MemoryStore",
    "Metric",
    "ParameterCodec",
    "PreparedStudy",
    "Progress",
    "RunResult",
    "StoredStudy",
    "StudyDriver",
    "StudyLimits",
    "StudySpec",
    "StudyStore",
    "TrialRecord",
    "build_space",
    "default_population",
    "front_indices",
    "hypervolume",
    "make_sampler",
    "non_dominated",
    "normalized_hypervolume",
    "prepare_study",
]
