"""``epim study run``: run a study in this process, stored like any service study.

The study is a row of ``epim_studies`` like one submitted over HTTP, so it is browsable in
the API and the UI while it runs and after. Running the same spec again resumes it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from epim import results
from epim.errors import InputError
from epim.search import Progress, StudyLimits, StudySpec
from epim.service._owner import is_dead_here, new_owner
from epim.service._runner import DEFAULT_WORKER_MAX_BYTES, Runner
from epim.service._study import canonical_spec, prepare_submission, submit


def run_study_here(spec: StudySpec, database_url: str, *, ray_address: str | None = None,
                   data_roots: Mapping[str, Path] | None = None,
                   checkpoints: Mapping[str, Path] | None = None,
                   on_progress: Callable[[Progress], None] | None = None,
                   heartbeat_s: float = 5.0, stale_after_s: float = 60.0,
                   worker_max_bytes: int | None = DEFAULT_WORKER_MAX_BYTES,
                   limits: StudyLimits | None = None) -> results.StudyRow:
    """Run (or resume) ``spec`` in this process; SIGINT/SIGTERM stop it resumably.

    A study of the same name and spec is resumed: a queued one is claimed, a running one is
    taken over if its runner is gone (a dead process on this host, or a stale heartbeat), a
    finished one is returned as it is (a failed one: ``epim study resume`` queues it again).
    Proxy trainings run in a worker process of at most ``worker_max_bytes``; ``limits`` are the
    operator's (``Settings.limits()``; default: the built-in ones).

    Returns:
        The study's row afterwards.

    Raises:
        InputError: If the spec is invalid, another spec has the name, or a live runner runs it.

    """
    results.ensure_schema(database_url)
    found = _find_stored(spec, database_url, stale_after_s)
    if found == _NEW:  # checked and stored as any submission is
        study_id: int | None = submit(database_url, spec, limits=limits,
                                      data_roots=data_roots, checkpoints=checkpoints).row.id
    else:  # checked again, as the runner will (a spec stored under looser limits fails here)
        prepare_submission(spec, limits=limits, data_roots=data_roots,
                           checkpoints=checkpoints)
        study_id = found
    if study_id is None:
        study_id = _existing(spec, database_url)[0].id
    else:
        run_queued_here(study_id, database_url, ray_address=ray_address,
                        data_roots=data_roots, checkpoints=checkpoints,
                        on_progress=on_progress,
                        heartbeat_s=heartbeat_s, stale_after_s=stale_after_s,
                        worker_max_bytes=worker_max_bytes, limits=limits)
    row = results.get_study(database_url, study_id)
    assert row is not None
    return row


def run_queued_here(study_id: int, database_url: str, *, ray_address: str | None = None,
                    data_roots: Mapping[str, Path] | None = None,
                    checkpoints: Mapping[str, Path] | None = None,
                    on_progress: Callable[[Progress], None] | None = None,
                    heartbeat_s: float = 5.0, stale_after_s: float = 60.0,
                    worker_max_bytes: int | None = DEFAULT_WORKER_MAX_BYTES,
                    limits: StudyLimits | None = None) -> str:
    """Claim the queued study ``study_id`` and run it in this process (SIGINT/SIGTERM stop it).

    Returns:
        Its status afterwards (``queued`` when stopped before the end).

    Raises:
        InputError: If the study is not queued.

    """
    runner = Runner(database_url=database_url, owner=new_owner("cli"), heartbeat_s=heartbeat_s,
                    stale_after_s=stale_after_s, ray_address=ray_address,
                    data_roots=data_roots, checkpoints=checkpoints,
                    worker_max_bytes=worker_max_bytes, limits=limits)
    with _stop_on_signals(runner.request_stop):
        return runner.run_one(study_id, on_progress=on_progress)


def _existing(spec: StudySpec, url: str) -> list[results.StudyRow]:
    return list(results.list_studies(url, name=spec.name, limit=1000).items)


#: :func:`_find_stored`'s answer for a spec that is not stored yet.
_NEW = -1


def _find_stored(spec: StudySpec, url: str, stale_after_s: float) -> int | None:
    """The id of the stored, queued study of ``spec``; ``None`` if finished; ``_NEW`` if none.

    Raises:
        InputError: If another spec has the name, the study failed, or a live runner runs it.

    """
    document = canonical_spec(spec)
    same = [row for row in _existing(spec, url) if row.spec == document]
    if not same:
        if _existing(spec, url):
            raise InputError(f"a study named '{spec.name}' exists with another spec",
                             field="name", expected="a new name, or the stored spec unchanged")
        return _NEW
    row = same[0]
    if row.status in results.FINISHED and row.status != "failed":
        return None
    if row.status == "failed":
        raise InputError(f"study {row.id} failed: {row.error}", field="name",
                         expected=f"`epim study resume {row.id}` to run it on from its "
                         "trials, or a new name to start again")
    if row.status == "running" and row.owner is not None:
        if is_dead_here(row.owner):
            results.requeue_owned(url, row.id, row.owner)
        else:
            results.requeue_stale(url, stale_after_s)
        current = results.get_study(url, row.id)
        if current is None or current.status != "queued":
            raise InputError(f"study {row.id} is being run by {row.owner}", field="name",
                             expected="wait for it, or cancel it first")
    return row.id


@contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into ``stop()`` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop())
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
