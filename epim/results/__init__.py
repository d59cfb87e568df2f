"""The results store: SQLAlchemy models of the ``epim_`` tables, migrations, repository.

SQLite by default (a file; WAL, busy timeout), PostgreSQL when the URL says so.
"""

from epim.results._db import (
    SchemaError,
    current_revision,
    head_revision,
    make_engine,
    require_migrated,
    session_scope,
    upgrade,
)
from epim.results._models import STUDY_STATUSES, StudyRow, TrialRow
from epim.results._repository import (
    FINISHED,
    Page,
    all_trial_points,
    claim_study,
    count_studies,
    create_study,
    delete_study,
    finish_study,
    front_trials,
    get_study,
    get_trial,
    heartbeat,
    list_studies,
    list_trials,
    record_trials,
    release_study,
    request_cancel,
    requeue_stale,
    stored_trial_numbers,
)

__all__ = [
    "FINISHED",
    "STUDY_STATUSES",
    "Page",
    "SchemaError",
    "StudyRow",
    "TrialRow",
    "all_trial_points",
    "claim_study",
    "count_studies",
    "create_study",
    "current_revision",
    "delete_study",
    "finish_study",
    "front_trials",
    "get_study",
    "get_trial",
    "head_revision",
    "heartbeat",
    "list_studies",
    "list_trials",
    "make_engine",
    "record_trials",
    "release_study",
    "request_cancel",
    "requeue_stale",
    "require_migrated",
    "session_scope",
    "stored_trial_numbers",
    "upgrade",
]
