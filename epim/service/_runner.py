"""The study runner: claims queued studies from the database and runs them.

The database is the queue (``epim.results.claim_study``). Each claimed study runs in a worker
thread through the search driver; a heartbeat thread refreshes the claims and reads
cancellation requests. On start, studies whose runner died (stale heartbeat) go back to the
queue and are resumed from Optuna's storage: no told trial is lost or counted twice. A
stopping runner puts its unfinished studies back in the queue.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from epim import results
from epim.search import BatchCallback, Progress, StudyDriver, StudySpec, TrialRecord
from epim.search.executors import Executor, make_executor
from epim.service._evaluators import ProxyAccuracy

log = logging.getLogger("epim.runner")


def trial_row(record: TrialRecord, layers: dict[str, list[float]]) -> dict[str, Any]:
    """A driver record as an ``epim_trials`` row."""
    return {
        "number": record.number,
        "state": "failed" if record.error else "complete",
        "feasible": record.feasible and record.error is None,
        "metrics": record.metrics,
        "constraints": record.constraints,
        "design": record.design,
        "layers": layers,
        "error": record.error,
    }


@dataclass
class _Active:
    study_id: int
    thread: threading.Thread
    cancel: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)


class Runner:
    """Runs queued studies from one database.

    Args:
        database_url: The service's database (migrated).
        owner: Name of this runner in claims (default: host, pid and a random suffix).
        max_concurrent: Studies this runner runs at once; more wait queued.
        poll_s: Seconds between looks at the queue.
        heartbeat_s: Seconds between heartbeats.
        stale_after_s: A running study whose heartbeat is older is taken back (its runner died).
        ray_address: Cluster for ``ray`` executors (``None``: a private local Ray).

    """

    def __init__(self, *, database_url: str, owner: str | None = None, max_concurrent: int = 1,
                 poll_s: float = 1.0, heartbeat_s: float = 5.0, stale_after_s: float = 60.0,
                 ray_address: str | None = None) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self.database_url = database_url
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.max_concurrent = max_concurrent
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.ray_address = ray_address
        self._stop = threading.Event()
        self._active: dict[int, _Active] = {}
        self._lock = threading.Lock()
        self._executors: dict[tuple[str, float, int], Executor] = {}
        self._threads: list[threading.Thread] = []
        self.last_beat: float | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the queue and heartbeat threads (returns at once)."""
        results.require_migrated(self.database_url)
        for taken in results.requeue_stale(self.database_url, self.stale_after_s):
            log.info("requeued study %s (stale heartbeat)", taken)
        for target, name in ((self._queue_loop, "epim-runner-queue"),
                             (self._heartbeat_loop, "epim-runner-heartbeat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, ask running studies to stop, wait for them, release executors."""
        self._stop.set()
        with self._lock:
            active = list(self._active.values())
        for item in active:
            item.thread.join(timeout)
        for thread in self._threads:
            thread.join(timeout)
        for executor in self._executors.values():
            executor.close()
        self._executors.clear()

    @property
    def alive(self) -> bool:
        """True while the queue thread runs."""
        return bool(self._threads) and self._threads[0].is_alive() and not self._stop.is_set()

    def active_studies(self) -> list[int]:
        """Ids of the studies this runner is running."""
        with self._lock:
            return list(self._active)

    # ------------------------------------------------------------------ loops
    def _queue_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._claim_some()
            except Exception:  # a database hiccup must not kill the runner
                log.exception("claiming failed")
            self._stop.wait(self.poll_s)

    def _claim_some(self) -> None:
        with self._lock:
            for study_id in [k for k, v in self._active.items() if not v.thread.is_alive()]:
                del self._active[study_id]
            free = self.max_concurrent - len(self._active)
        for _ in range(free):
            row = results.claim_study(self.database_url, self.owner)
            if row is None:
                return
            item = _Active(row.id, threading.Thread(target=self._run_study, args=(row,),
                                                    name=f"epim-study-{row.id}", daemon=True))
            with self._lock:
                self._active[row.id] = item
            item.thread.start()

    def _heartbeat_loop(self) -> None:
        import time

        while not self._stop.wait(self.heartbeat_s):
            self.last_beat = time.time()
            with self._lock:
                active = list(self._active.values())
            for item in active:
                try:
                    owned, cancel = results.heartbeat(self.database_url, item.study_id,
                                                      self.owner)
                except Exception:
                    log.exception("heartbeat failed")
                    continue
                if not owned:
                    item.lost.set()
                if cancel:
                    item.cancel.set()

    # ------------------------------------------------------------------ one study
    def _executor(self, spec: StudySpec) -> Executor:
        key = (spec.executor.kind, spec.executor.cpus_per_trial, spec.executor.retries)
        if key not in self._executors:
            self._executors[key] = make_executor(
                spec.executor.kind, address=self.ray_address,
                cpus_per_task=spec.executor.cpus_per_trial, retries=spec.executor.retries)
        return self._executors[key]

    def _run_study(self, row: results.StudyRow) -> None:
        url = self.database_url
        with self._lock:
            item = self._active[row.id]
        try:
            spec = StudySpec.model_validate(row.spec, strict=False)
            accuracy = (ProxyAccuracy(spec.accuracy, threads=max(1, math.floor(
                spec.executor.cpus_per_trial))) if spec.needs_accuracy and spec.accuracy
                else None)
            driver = StudyDriver(spec, storage=url, executor=self._executor(spec),
                                 accuracy=accuracy, study_name=row.optuna_name)
            self._backfill(driver, row.id)
            persist: BatchCallback = lambda batch, layers, front, progress: self._persist(  # noqa: E731
                row.id, batch, layers, front, progress)
            progress = driver.run(
                on_batch=persist,
                should_stop=lambda: (self._stop.is_set() or item.cancel.is_set()
                                     or item.lost.is_set()))
        except Exception as exc:  # the study fails, the runner goes on
            log.exception("study %s failed", row.id)
            results.finish_study(url, row.id, self.owner, "failed",
                                 f"{type(exc).__name__}: {exc}"[:4000])
            return
        if item.lost.is_set():
            return  # another runner took it over
        if item.cancel.is_set():
            results.finish_study(url, row.id, self.owner, "cancelled")
        elif progress.completed >= spec.budget.n_trials or spec.budget.timeout_s is not None:
            results.finish_study(url, row.id, self.owner, "completed")
        else:  # this runner is stopping: leave the study to be resumed
            results.release_study(url, row.id, self.owner)

    def _backfill(self, driver: StudyDriver, study_id: int) -> None:
        """Store trials told before a crash but missing from ``epim_trials``."""
        driver.recover()
        stored = results.stored_trial_numbers(self.database_url, study_id)
        missing = [r for r in driver.records if r.number not in stored]
        if missing or driver.records:
            self._persist(study_id, missing, driver.layer_breakdown(missing), driver.front,
                          driver.progress())

    def _persist(self, study_id: int, batch: list[TrialRecord],
                 layers: list[dict[str, list[float]]], front: list[TrialRecord],
                 progress: Progress) -> None:
        rows = [trial_row(r, b) for r, b in zip(batch, layers, strict=True)]
        results.record_trials(self.database_url, study_id, rows, [r.number for r in front],
                              {"completed": progress.completed, "feasible": progress.feasible,
                               "failed": progress.failed,
                               "hypervolume": progress.hypervolume})
