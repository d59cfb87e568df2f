"""The service layer: the composition root wiring proxies, the cost model, search and store."""

from epim.service._browse import (
    choose_axes,
    find_study,
    objectives,
    pareto_document,
    pareto_front,
    profile_document,
    project_front,
    trials_csv,
)
from epim.service._designs import (
    design_text,
    history_document,
    layer_view,
    prepared_study,
    reference_designs,
    trial_design,
    trial_model,
)
from epim.service._evaluators import ProxyAccuracy
from epim.service._hardware_file import hardware_document, hardware_text, trial_hardware
from epim.service._local import run_queued_here, run_study_here
from epim.service._owner import is_dead_here, new_owner
from epim.service._retry import DatabaseRetry, DatabaseUnavailableError
from epim.service._runner import DEFAULT_WORKER_MAX_BYTES, Runner, public_error
from epim.service._store import SqlStudyStore, best_per_objective, record_from_row
from epim.service._study import (
    IdempotencyKeyError,
    Submission,
    find_duplicate,
    make_accuracy,
    prepare_submission,
    replayed_submission,
    submit_study,
)
from epim.service._supervisor import RunnerProcess

__all__ = [
    "DEFAULT_WORKER_MAX_BYTES",
    "DatabaseRetry",
    "DatabaseUnavailableError",
    "IdempotencyKeyError",
    "ProxyAccuracy",
    "Runner",
    "RunnerProcess",
    "SqlStudyStore",
    "Submission",
    "best_per_objective",
    "choose_axes",
    "design_text",
    "find_duplicate",
    "find_study",
    "hardware_document",
    "hardware_text",
    "history_document",
    "is_dead_here",
    "layer_view",
    "make_accuracy",
    "new_owner",
    "objectives",
    "pareto_document",
    "pareto_front",
    "prepare_submission",
    "prepared_study",
    "profile_document",
    "project_front",
    "public_error",
    "record_from_row",
    "reference_designs",
    "replayed_submission",
    "run_queued_here",
    "run_study_here",
    "submit_study",
    "trial_design",
    "trial_hardware",
    "trial_model",
    "trials_csv",
]
