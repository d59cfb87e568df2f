"""The study runner: claims queued studies from the database and runs them.

The database is the queue (``epim.results.claim_study``). Each claimed study runs in a thread
through the search driver; its proxy evaluations run in a worker process
(``ProcessExecutor``) with a memory limit, so a cancellation, the study's timeout or a
stopping runner kills a running training at once, and a training that needs too much memory
fails that evaluation, never the runner. A heartbeat thread refreshes the claims and reads
cancellation requests (every ``cancel_poll_s``). While it runs, every runner keeps putting
back in the queue the studies whose runner died: at once when that runner was on this host
(its process is gone), otherwise once its heartbeat is older than ``stale_after_s``; a study
whose runners died ``max_claims`` times in a row before it stored a batch ends ``failed``, and
one whose cancellation was requested ends ``cancelled``. A resumed study continues from its
stored trials: no told trial is lost or counted twice (a batch whose commit was lost in
flight is recognised when it is retried). A stopping runner (SIGTERM, SIGINT) puts its
unfinished studies back in the queue. Database outages are waited out (``DatabaseRetry``):
they never fail a study.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from epim import results
from epim.errors import InputError
from epim.search import Progress, RunResult, StudyDriver, StudyLimits, StudySpec
from epim.search.executors import Executor, ProcessExecutor, make_executor
from epim.service._owner import is_dead_here, new_owner
from epim.service._progress_log import ProgressLog
from epim.service._retry import DatabaseRetry, DatabaseUnavailableError
from epim.service._store import SqlStudyStore
from epim.service._stored import stored_spec
from epim.service._study import make_accuracy, prepare_submission

log = logging.getLogger("epim.runner")
#: Data limit of a runner's evaluation worker process (bytes) unless configured.
DEFAULT_WORKER_MAX_BYTES = 4 * 2**30


def public_error(error: BaseException) -> str:
    """What every reader of a failed study sees: one line, no SQL, no parameters.

    Database errors are named by kind only (their text holds statements and values; the
    runner's log keeps them); other errors give their type and first 1,000 characters.
    """
    if results.is_database_error(error):
        cause = getattr(error, "orig", None) or error
        return (f"database error ({type(cause).__name__}) while storing the study; the "
                "runner's log has the details")
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:1000]


@dataclass
class _Active:
    study_id: int
    thread: threading.Thread | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)


class Runner:
    """Runs queued studies from one database.

    Args:
        database_url: The service's database (migrated).
        owner: Name of this runner in claims (default: host, PID and a random suffix).
        max_concurrent: Studies this runner runs at once; more wait queued.
        poll_s: Seconds between looks at the queue.
        heartbeat_s: Seconds between heartbeats.
        stale_after_s: A running study whose heartbeat is older is taken back (its runner died).
        ray_address: Cluster for ``ray`` executors (``None``: a private local Ray).
        data_roots: The operator's named dataset directories (``EPIM_DATA_ROOTS``).
        checkpoints: The operator's named pretrained checkpoints (``EPIM_CHECKPOINTS``).
        worker_max_bytes: Data limit of the process that runs ``local`` proxy evaluations
            (bytes; ``EPIM_WORKER_MAX_BYTES``; ``None`` or 0: none).
        isolated: Run ``local`` evaluations in that worker process (``False``: in this
            process, as a library user may want; cancellation then waits for the evaluation).
        cancel_poll_s: Seconds between looks at the cancellation requests of running studies.
        max_claims: A study whose runners died this many times in a row before it stored a
            batch ends ``failed``.
        limits: The operator's study limits (``Settings.limits()``), re-checked on every
            claim (default: the built-in limits).

    """

    def __init__(self, *, database_url: str, owner: str | None = None, max_concurrent: int = 1,
                 poll_s: float = 1.0, heartbeat_s: float = 5.0, stale_after_s: float = 60.0,
                 ray_address: str | None = None,
                 data_roots: Mapping[str, Path] | None = None,
                 checkpoints: Mapping[str, Path] | None = None,
                 worker_max_bytes: int | None = DEFAULT_WORKER_MAX_BYTES,
                 isolated: bool = True, cancel_poll_s: float = 1.0,
                 max_claims: int = results.MAX_CLAIMS,
                 limits: StudyLimits | None = None) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        if max_claims < 1:
            raise ValueError("max_claims must be >= 1")
        self.database_url = database_url
        self.owner = owner or new_owner()
        self.max_concurrent = max_concurrent
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.ray_address = ray_address
        self.data_roots = dict(data_roots or {})
        self.checkpoints = dict(checkpoints or {})
        self.worker_max_bytes = worker_max_bytes or None
        self.isolated = isolated
        self.cancel_poll_s = cancel_poll_s
        self.max_claims = max_claims
        self.limits = limits or StudyLimits()
        self._stop = threading.Event()
        self.db = DatabaseRetry(self._stop, log)
        self._active: dict[int, _Active] = {}
        self._lock = threading.Lock()
        self._executors: dict[tuple[str, float, float, int], Executor] = {}
        self._idle_workers: dict[int, list[ProcessExecutor]] = {}
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the queue and heartbeat threads (returns at once)."""
        for target, name in ((self._queue_loop, "epim-runner-queue"),
                             (self._heartbeat_loop, "epim-runner-heartbeat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, stop running studies (back to the queue), release executors.

        A running evaluation is killed (its worker process), so this takes about a second.
        A study whose thread has not ended after ``timeout`` (stuck outside an evaluation,
        e.g. in a sampler) is put back in the queue all the same.
        """
        self._stop.set()
        with self._lock:
            active = [a for a in self._active.values() if a.thread is not None]
        deadline = time.monotonic() + timeout
        for item in active:
            assert item.thread is not None
            item.thread.join(max(0.0, deadline - time.monotonic()))
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for item in active:
            if item.thread is not None and item.thread.is_alive():
                self._release(item.study_id)
        self._close_executors()

    def _close_executors(self) -> None:
        with self._lock:
            executors = [*self._executors.values(),
                         *(w for idle in self._idle_workers.values() for w in idle)]
            self._executors.clear()
            self._idle_workers.clear()
        for executor in executors:
            executor.close()

    @property
    def alive(self) -> bool:
        """True while the queue thread runs."""
        return bool(self._threads) and self._threads[0].is_alive() and not self._stop.is_set()

    @property
    def database_ok(self) -> bool:
        """False while this runner is waiting for an unreachable database."""
        return self.db.failing_since is None

    def active_studies(self) -> list[int]:
        """Ids of the studies this runner is running."""
        with self._lock:
            return list(self._active)

    # ------------------------------------------------------------------ the CLI's path
    def run_one(self, study_id: int, *,
                on_progress: Callable[[Progress], None] | None = None,
                on_phase: Callable[[Progress], None] | None = None) -> str:
        """Claim the queued study ``study_id`` and run it in this thread (heartbeats beside).

        ``on_progress`` hears the counters after every stored batch; ``on_phase`` each phase
        the run enters (``Progress.phase``, ``phase_detail``: what the terminal shows before
        the first batch).

        Returns:
            The study's status afterwards (``completed``, ``cancelled``, ``failed``, or
            ``queued`` when stopped before the end).

        Raises:
            EpimError: If the study cannot be claimed (not queued).

        """
        row = self.db(results.claim_study, self.database_url, self.owner, study_id)
        if row is None:  # or claimed, but the answer was lost: then it is ours
            row = self.db(results.get_study, self.database_url, study_id)
            if row is None or row.status != "running" or row.owner != self.owner:
                raise InputError(f"study {study_id} is not waiting to run", field="study",
                                 expected="a queued study")
        item = _Active(row.id)
        with self._lock:
            self._active[row.id] = item
        beat = threading.Thread(target=self._heartbeat_loop, name="epim-cli-heartbeat",
                                daemon=True)
        beat.start()
        try:
            self._run_study(row, item, on_progress, on_phase)
        finally:
            with self._lock:
                self._active.pop(row.id, None)
            self._stop.set()
            beat.join(self.heartbeat_s + 1)
            self._close_executors()
        final = results.get_study(self.database_url, row.id)
        return final.status if final is not None else "deleted"

    def request_stop(self) -> None:
        """Ask the runner to stop (from a signal handler): studies go back to the queue."""
        self._stop.set()

    # ------------------------------------------------------------------ loops
    def _queue_loop(self) -> None:
        while not self._stop.is_set():
            try:
                claims = self.db(self._requeue_dead)
                self._claim_some()
                self.db(self._adopt_lost_claims, claims)
            except DatabaseUnavailableError:
                break
            except Exception:  # a bug in one pass must not kill the runner
                log.exception("queue pass failed")
            self._stop.wait(self.poll_s)

    def _requeue_dead(self) -> list[tuple[int, str]]:
        """Requeue studies of dead runners: stale heartbeats, or gone processes on this host.

        Returns the running studies' claims as they were (``(study id, owner)``).
        """
        url = self.database_url
        for study_id in results.requeue_stale(url, self.stale_after_s,
                                              max_claims=self.max_claims):
            log.warning("study %s taken back: its runner's heartbeat is older than %.0f s",
                        study_id, self.stale_after_s)
        claims = results.running_claims(url)
        for study_id, owner in claims:
            if owner != self.owner and is_dead_here(owner) and results.requeue_owned(
                    url, study_id, owner, max_claims=self.max_claims):
                log.warning("study %s taken back: its runner (%s) is gone", study_id, owner)
        return claims

    def _claim_some(self) -> None:
        with self._lock:
            for study_id in [k for k, v in self._active.items()
                             if v.thread is not None and not v.thread.is_alive()]:
                del self._active[study_id]
            free = self.max_concurrent - len(self._active)
        for _ in range(free):
            if self._stop.is_set():
                return
            row = self.db(results.claim_study, self.database_url, self.owner)
            if row is None:
                return
            log.info("claimed study %s (%s)", row.id, row.name)
            self._launch(row)

    def _launch(self, row: results.StudyRow) -> None:
        item = _Active(row.id)
        item.thread = threading.Thread(target=self._run_study, args=(row, item),
                                       name=f"epim-study-{row.id}", daemon=True)
        with self._lock:
            self._active[row.id] = item
        item.thread.start()

    def _adopt_lost_claims(self, claims: list[tuple[int, str]]) -> None:
        """Run the studies this runner claimed without hearing so (a COMMIT lost in flight).

        The claim was committed but the connection dropped before the answer came, so the
        retried call found nothing to claim; without this the study would wait for its
        heartbeat to go stale. ``claims``: the running studies' claims (one pass old).
        """
        with self._lock:
            held = set(self._active)
        for study_id, owner in claims:
            if owner == self.owner and study_id not in held and not self._stop.is_set():
                row = results.get_study(self.database_url, study_id)
                if row is not None and row.status == "running" and row.owner == self.owner:
                    log.warning("study %s: adopting a claim whose answer was lost", study_id)
                    self._launch(row)

    def _heartbeat_loop(self) -> None:
        """Heartbeats every ``heartbeat_s``; cancellation requests every ``cancel_poll_s``."""
        beat_at = time.monotonic() + self.heartbeat_s
        while not self._stop.wait(min(self.heartbeat_s, self.cancel_poll_s)):
            with self._lock:
                active = list(self._active.values())
            try:
                if time.monotonic() >= beat_at:
                    beat_at = time.monotonic() + self.heartbeat_s
                    for item in active:
                        owned, cancel = self.db(results.heartbeat, self.database_url,
                                                item.study_id, self.owner)
                        if not owned:
                            item.lost.set()
                        if cancel:
                            item.cancel.set()
                elif active:
                    asked = self.db(results.cancel_requests, self.database_url,
                                    [item.study_id for item in active])
                    for item in active:
                        if item.study_id in asked:
                            item.cancel.set()
            except DatabaseUnavailableError:
                return

    # ------------------------------------------------------------------ one study
    def _executor(self, spec: StudySpec) -> tuple[Executor, bool]:
        """The executor of a study, and whether it is the study's own (see :meth:`_done`).

        ``local`` evaluations get a worker process of their own per running study (studies
        run side by side, and one study's stop kills only its own training); a finished
        study's worker waits for the next study (torch stays imported). ``ray`` executors are
        shared.
        """
        if spec.executor.kind == "local" and self.isolated:
            threads = max(1, math.floor(spec.executor.cpus_per_trial))
            with self._lock:
                idle = self._idle_workers.get(threads)
                if idle:
                    worker = idle.pop()
                    worker.retries = spec.executor.retries
                    return worker, True
            return make_executor("local", cpus_per_task=threads,
                                 retries=spec.executor.retries, isolated=True,
                                 memory_limit_bytes=self.worker_max_bytes), True
        key = (spec.executor.kind, spec.executor.cpus_per_trial,
               spec.executor.gpus_per_trial, spec.executor.retries)
        with self._lock:
            if key not in self._executors:
                self._executors[key] = make_executor(
                    spec.executor.kind, address=self.ray_address,
                    cpus_per_task=spec.executor.cpus_per_trial,
                    gpus_per_task=spec.executor.gpus_per_trial,
                    retries=spec.executor.retries)
            return self._executors[key], False

    def _done(self, executor: Executor) -> None:
        """Keep a study's worker for the next study (at most one per concurrent study)."""
        if not isinstance(executor, ProcessExecutor) or self._stop.is_set():
            executor.close()
            return
        with self._lock:
            idle = self._idle_workers.setdefault(executor.threads, [])
            if sum(len(v) for v in self._idle_workers.values()) < self.max_concurrent:
                idle.append(executor)
                return
        executor.close()

    def _run_study(self, row: results.StudyRow, item: _Active,
                   on_progress: Callable[[Progress], None] | None = None,
                   on_phase: Callable[[Progress], None] | None = None) -> None:
        lines = ProgressLog(row.id, row.name)  # a line per batch and phase where INFO is logged

        def report(progress: Progress) -> None:
            lines(progress)
            if on_progress is not None:
                on_progress(progress)

        def announce(progress: Progress) -> None:
            lines(progress)
            if on_phase is not None:
                on_phase(progress)

        try:
            outcome = self._drive(row, item, report, announce)
        except (results.LostClaimError, DatabaseUnavailableError) as exc:
            log.warning("study %s left to another runner: %s", row.id, exc)
            return
        except Exception as exc:  # the study fails, the runner goes on
            log.exception("study %s failed", row.id)
            self._finish(row.id, "failed", public_error(exc), lines=lines)
            return
        elapsed = outcome.progress.elapsed_s
        if item.lost.is_set():
            log.warning("study %s was taken over by another runner", row.id)
        elif item.cancel.is_set() and outcome.reason == "stopped":
            self._finish(row.id, "cancelled", elapsed_s=elapsed, lines=lines)
        elif outcome.reason in ("trials", "timeout", "evaluations", "exhausted"):
            self._finish(row.id, "completed", elapsed_s=elapsed, lines=lines)
        else:  # this runner is stopping: leave the study to be resumed
            self._release(row.id, elapsed)

    def _release(self, study_id: int, elapsed_s: float | None = None) -> None:
        try:
            self.db(results.release_study, self.database_url, study_id, self.owner,
                    elapsed_s=elapsed_s)
            log.info("study %s released (runner stopping)", study_id)
        except DatabaseUnavailableError:
            log.warning("study %s not released (database unavailable); it is requeued "
                        "once its heartbeat is stale", study_id)

    def _drive(self, row: results.StudyRow, item: _Active,
               on_progress: Callable[[Progress], None] | None,
               on_phase: Callable[[Progress], None] | None = None) -> RunResult:
        spec = stored_spec(row)
        # A study stored before a limit existed (or under looser limits) fails here with the
        # field named, rather than hang in a sampler or exhaust the worker.
        prepared = prepare_submission(spec, limits=self.limits, data_roots=self.data_roots,
                                      checkpoints=self.checkpoints)
        store = SqlStudyStore(self.database_url, row.id, self.owner, spec, call=self.db)
        executor, own = self._executor(spec)
        try:
            driver = StudyDriver(prepared, store=store, executor=executor,
                                 accuracy=make_accuracy(spec, self.data_roots,
                                                        self.checkpoints))
            started = time.monotonic()
            result = driver.run(
                on_progress=on_progress, on_phase=on_phase, should_stop=lambda: (
                    self._stop.is_set() or item.cancel.is_set() or item.lost.is_set()))
        finally:
            if own:
                self._done(executor)
        log.info("study %s: %s after %d trials this run (%.1f s)", row.id, result.reason,
                 result.progress.run_completed, time.monotonic() - started)
        return result

    def _finish(self, study_id: int, status: str, error: str | None = None, *,
                elapsed_s: float | None = None, lines: ProgressLog | None = None) -> None:
        try:
            if self.db(results.finish_study, self.database_url, study_id, self.owner, status,
                       error, elapsed_s=elapsed_s):
                if lines is not None:
                    lines.finished(status, error, elapsed_s)
                else:
                    log.info("study %s %s", study_id, status)
        except DatabaseUnavailableError:
            log.warning("study %s could not be marked %s (database unavailable)", study_id,
                        status)
