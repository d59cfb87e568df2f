"""Run a study end to end: the composition root that wires evaluators into the search."""

from __future__ import annotations

import math
from collections.abc import Callable

from epim.search import Progress, StudyDriver, StudySpec
from epim.search.executors import make_executor
from epim.service._evaluators import ProxyAccuracy


def run_study(spec: StudySpec, database_url: str, *, ray_address: str | None = None,
              on_progress: Callable[[Progress], None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              study_name: str | None = None) -> Progress:
    """Run (or resume) ``spec`` on the database at ``database_url``.

    Args:
        spec: The study.
        database_url: Optuna/SQLAlchemy URL of the storage.
        ray_address: A Ray cluster to join (``ray`` executor), or ``None`` for a private one.
        on_progress: Called after every batch.
        should_stop: Polled between batches (cancellation).
        study_name: Storage name of the study (default: ``spec.name``).

    """
    executor = make_executor(spec.executor.kind, address=ray_address,
                             cpus_per_task=spec.executor.cpus_per_trial,
                             retries=spec.executor.retries)
    accuracy = (ProxyAccuracy(spec.accuracy, threads=max(1, math.floor(
        spec.executor.cpus_per_trial))) if spec.needs_accuracy and spec.accuracy else None)
    with executor:
        driver = StudyDriver(spec, storage=database_url, executor=executor, accuracy=accuracy,
                             study_name=study_name)
        return driver.run(on_progress=on_progress, should_stop=should_stop)


def delete_optuna_study(database_url: str, name: str) -> bool:
    """Delete a study from Optuna's tables (``False`` if it was never created)."""
    from epim.search import delete_study

    return delete_study(database_url, name)


def prepare_database(database_url: str) -> str:
    """Migrate the ``epim_`` tables and create (or upgrade) Optuna's tables.

    Run once per deployment (``epim db upgrade``), before any runner: two runners creating
    Optuna's tables at the same moment on an empty PostgreSQL database would collide.

    Returns:
        The ``epim_`` schema revision.

    """
    from epim.results import upgrade
    from epim.search import open_storage

    revision = upgrade(database_url)
    open_storage(database_url).engine.dispose()
    return revision
