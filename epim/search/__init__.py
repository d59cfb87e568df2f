"""Multi-objective search: study specs, the ask/tell driver, Pareto fronts, executors."""

from epim.search._driver import (
    AccuracyEvaluator,
    BatchCallback,
    Progress,
    StudyDriver,
    TrialRecord,
    build_space,
    make_sampler,
    open_storage,
    pareto_front,
    resolve_network,
)
from epim.search._pareto import hypervolume, non_dominated
from epim.search._spec import METRICS, SAMPLERS, StudySpec
from epim.search._store import (
    delete_study,
    export_trials,
    list_studies,
    load_study,
    pareto_document,
    study_spec,
    trial_document,
)

__all__ = [
    "METRICS",
    "SAMPLERS",
    "AccuracyEvaluator",
    "BatchCallback",
    "Progress",
    "StudyDriver",
    "StudySpec",
    "TrialRecord",
    "build_space",
    "delete_study",
    "export_trials",
    "hypervolume",
    "list_studies",
    "load_study",
    "make_sampler",
    "non_dominated",
    "open_storage",
    "pareto_document",
    "pareto_front",
    "resolve_network",
    "study_spec",
    "trial_document",
]
