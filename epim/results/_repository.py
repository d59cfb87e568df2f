"""Repository functions over the ``epim_`` tables: the only way the service touches them.

Every function takes the database URL and runs in its own transaction. The study queue lives
here: ``claim_study`` takes the oldest queued study with ``SELECT ... FOR UPDATE SKIP LOCKED``
on PostgreSQL (several runners never take the same study) and with a conditional update on
SQLite (one writer at a time).
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, load_only

from epim.errors import EpimError
from epim.results._db import session_scope
from epim.results._models import (
    COUNTERS,
    STUDY_STATUSES,
    ArtifactRow,
    ProgressRow,
    StudyRow,
    TrialRow,
    utcnow,
)

FINISHED = ("completed", "failed", "cancelled")
#: A study whose runner died this many times in a row before it stored a batch fails.
MAX_CLAIMS = 3
#: What can be resumed (put back in the queue to run on from its stored trials).
RESUMABLE = ("failed", "cancelled")


class LostClaimError(EpimError):
    """The study is no longer claimed by this owner (another runner took it over)."""


class BatchConflictError(EpimError):
    """Trials of a batch are stored already with other designs (not a retried commit)."""


@dataclass(frozen=True)
class Page:
    """A page of rows and the total count before paging."""

    items: list[Any]
    total: int


def create_study(url: str, *, name: str, spec: dict[str, Any], n_trials: int,
                 network: str = "", status: str = "queued", owner: str | None = None
                 ) -> StudyRow:
    """Store a new study, ``queued`` (or ``running`` for ``owner``: the CLI runs it now)."""
    if status not in ("queued", "running") or (status == "running") != (owner is not None):
        raise ValueError("a new study is queued, or running with an owner")
    with session_scope(url) as session:
        now = utcnow()
        row = StudyRow(name=name, network=network, spec=spec, status=status, n_trials=n_trials,
                       **dict.fromkeys(COUNTERS, 0), best={},
                       cancel_requested=False, owner=owner,
                       heartbeat_at=now if owner else None,
                       started_at=now if owner else None, runs=1 if owner else 0)
        session.add(row)
        session.flush()
        session.refresh(row)
        return row


def count_studies(url: str, status: str | None = None) -> int:
    """How many studies (with ``status``) there are."""
    with session_scope(url) as session:
        query = select(func.count()).select_from(StudyRow)
        if status is not None:
            query = query.where(StudyRow.status == status)
        return int(session.scalar(query) or 0)


def get_study(url: str, study_id: int) -> StudyRow | None:
    """The study, or ``None``."""
    with session_scope(url) as session:
        return session.get(StudyRow, study_id)


def get_study_counted(url: str, study_id: int) -> tuple[StudyRow, int] | None:
    """The study and how many trials it has stored (one query), or ``None``.

    The count identifies the set of stored trials (see :func:`count_trials`).
    """
    counted = (select(func.count()).select_from(TrialRow)
               .where(TrialRow.study_id == StudyRow.id).scalar_subquery())
    with session_scope(url) as session:
        found = session.execute(select(StudyRow, counted).where(StudyRow.id == study_id)
                                ).first()
        return None if found is None else (found[0], int(found[1]))


def list_studies(url: str, *, status: str | None = None, name: str | None = None,
                 offset: int = 0, limit: int = 50) -> Page:
    """Studies, newest first, optionally of one status and/or one name."""
    if status is not None and status not in STUDY_STATUSES:
        raise ValueError(f"unknown status {status!r}")
    with session_scope(url) as session:
        query = select(StudyRow)
        counter = select(func.count()).select_from(StudyRow)
        if status is not None:
            query = query.where(StudyRow.status == status)
            counter = counter.where(StudyRow.status == status)
        if name is not None:
            query = query.where(StudyRow.name == name)
            counter = counter.where(StudyRow.name == name)
        rows = session.scalars(query.order_by(StudyRow.id.desc()).offset(offset)
                               .limit(limit)).all()
        return Page(list(rows), int(session.scalar(counter) or 0))


def request_cancel(url: str, study_id: int) -> StudyRow | None:
    """Cancel a queued study now; ask a running one's runner to stop; finished: unchanged."""
    with session_scope(url) as session:
        row = session.get(StudyRow, study_id, with_for_update=True)
        if row is None:
            return None
        if row.status == "queued":
            row.status, row.finished_at = "cancelled", utcnow()
        elif row.status == "running":
            row.cancel_requested = True
        session.flush()
        return row


def delete_study(url: str, study_id: int, *, stale_after_s: float | None = None
                 ) -> StudyRow | None:
    """Delete a study that is not running (and its trials); returns the deleted row.

    A running study is kept (its row is returned, ``running``), unless its cancellation was
    requested and its heartbeat is older than ``stale_after_s``: its runner is gone, so it
    is deleted as well.
    """
    with session_scope(url) as session:
        row = session.get(StudyRow, study_id, with_for_update=True)
        if row is None:
            return None
        if row.status == "running":
            limit = None if stale_after_s is None else utcnow() - timedelta(
                seconds=stale_after_s)
            if not (row.cancel_requested and limit is not None
                    and (row.heartbeat_at is None or row.heartbeat_at < limit)):
                return row
            row.status = "cancelled"  # what the caller sees: it was stopped, then deleted
        session.delete(row)
        return row


def claim_study(url: str, owner: str, study_id: int | None = None) -> StudyRow | None:
    """Take the oldest queued study (or the queued study ``study_id``) for ``owner``.

    Studies whose cancellation was requested are never claimed (they end ``cancelled``).
    Each claim counts in the study's ``claims`` (reset when it stores a batch).

    Returns the study, now ``running``, or ``None`` when there is none to take.
    """
    with session_scope(url) as session:
        session.execute(update(StudyRow).where(  # asked to stop while queued (older rows)
            StudyRow.status == "queued", StudyRow.cancel_requested.is_(True))
            .values(status="cancelled", finished_at=utcnow(), cancel_requested=False)
            .execution_options(synchronize_session=False))
        query = (select(StudyRow.id).where(StudyRow.status == "queued",
                                           StudyRow.cancel_requested.is_(False))
                 .order_by(StudyRow.id).limit(1))
        if study_id is not None:
            query = query.where(StudyRow.id == study_id)
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        study_id = session.scalar(query)
        if study_id is None:
            return None
        now = utcnow()
        result = session.execute(
            update(StudyRow)
            .where(StudyRow.id == study_id, StudyRow.status == "queued")
            .values(status="running", owner=owner, heartbeat_at=now,
                    started_at=func.coalesce(StudyRow.started_at, now),
                    runs=StudyRow.runs + 1, claims=StudyRow.claims + 1)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None  # another claimer won (SQLite); try again later
        return session.get(StudyRow, study_id, populate_existing=True)


def _put_back(row: StudyRow, *, died: bool, max_claims: int) -> None:
    """End a claim: back in the queue, or ``cancelled`` (asked), or ``failed`` (poison).

    ``died``: the runner stopped without releasing the study (killed, out of memory, a stale
    heartbeat). A study whose runner died ``max_claims`` times in a row before it stored a
    batch is not claimed again. A clean release does not count as a claim.
    """
    row.owner = None
    if row.cancel_requested:
        row.status, row.finished_at, row.cancel_requested = "cancelled", utcnow(), False
    elif died and row.claims >= max_claims:
        row.status, row.finished_at = "failed", utcnow()
        row.error = (f"its runner stopped {row.claims} times in a row before the study "
                     "stored a batch (killed, or out of memory); not run again: fix the "
                     "spec, or resume it")
    else:
        row.status = "queued"
        if not died:
            row.claims = max(0, row.claims - 1)


def _end_claims(session: Session, query: Any, *, died: bool, max_claims: int) -> list[int]:
    rows = session.scalars(query.with_for_update()).all()
    for row in rows:
        _put_back(row, died=died, max_claims=max_claims)
    return [row.id for row in rows]


def requeue_stale(url: str, stale_after_s: float, *, max_claims: int = MAX_CLAIMS
                  ) -> list[int]:
    """Put running studies whose heartbeat is older than ``stale_after_s`` back in the queue.

    Studies whose cancellation was requested end ``cancelled``; studies whose runners died
    ``max_claims`` times in a row before they stored a batch end ``failed``.
    """
    limit = utcnow() - timedelta(seconds=stale_after_s)
    with session_scope(url) as session:
        return _end_claims(session, select(StudyRow).where(
            StudyRow.status == "running", StudyRow.heartbeat_at < limit),
            died=True, max_claims=max_claims)


def running_claims(url: str) -> list[tuple[int, str]]:
    """``(study id, owner)`` of every running study."""
    with session_scope(url) as session:
        rows = session.execute(select(StudyRow.id, StudyRow.owner)
                               .where(StudyRow.status == "running")).all()
        return [(int(i), str(o)) for i, o in rows if o is not None]


def requeue_owned(url: str, study_id: int, owner: str, *, max_claims: int = MAX_CLAIMS
                  ) -> bool:
    """Put a study back in the queue if ``owner`` still holds it (its process is gone).

    As :func:`requeue_stale`: ``cancelled`` if asked, ``failed`` after ``max_claims`` deaths.
    """
    with session_scope(url) as session:
        return bool(_end_claims(session, select(StudyRow).where(
            StudyRow.id == study_id, StudyRow.owner == owner, StudyRow.status == "running"),
            died=True, max_claims=max_claims))


def cancel_requests(url: str, study_ids: Collection[int]) -> set[int]:
    """Which of ``study_ids`` have a cancellation request (one query; runners poll it)."""
    if not study_ids:
        return set()
    with session_scope(url) as session:
        return set(session.scalars(select(StudyRow.id).where(
            StudyRow.id.in_(list(study_ids)), StudyRow.cancel_requested.is_(True))))


def heartbeat(url: str, study_id: int, owner: str) -> tuple[bool, bool]:
    """Refresh the claim; returns (still owned, cancellation requested)."""
    with session_scope(url) as session:
        result = session.execute(
            update(StudyRow).where(StudyRow.id == study_id, StudyRow.owner == owner,
                                   StudyRow.status == "running")
            .values(heartbeat_at=utcnow()).execution_options(synchronize_session=False))
        owned = result.rowcount == 1  # type: ignore[attr-defined]
        cancel = bool(session.scalar(select(StudyRow.cancel_requested)
                                     .where(StudyRow.id == study_id)))
        return owned, cancel


#: Longest phase detail stored (the column's size); longer text is cut.
PHASE_DETAIL_CHARS = 300


def save_phase(url: str, study_id: int, owner: str, phase: str, detail: str = "",
               elapsed_s: float | None = None) -> None:
    """Store what a study's run is doing now (``owner`` must hold the study).

    Raises:
        LostClaimError: If another runner holds the study now (nothing is written).

    """
    values: dict[str, Any] = {"phase": phase[:32], "phase_detail": detail[:PHASE_DETAIL_CHARS],
                              "heartbeat_at": utcnow()}
    if elapsed_s is not None:
        values["elapsed_s"] = elapsed_s
    with session_scope(url) as session:
        result = session.execute(update(StudyRow).where(
            StudyRow.id == study_id, StudyRow.owner == owner, StudyRow.status == "running")
            .values(**values).execution_options(synchronize_session=False))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LostClaimError(f"study {study_id} is no longer held by {owner}")


def save_baseline(url: str, study_id: int, owner: str, baseline: dict[str, Any]) -> None:
    """Store a study's dense baseline (``owner`` must hold the study).

    Raises:
        LostClaimError: If another runner holds the study now.

    """
    with session_scope(url) as session:
        result = session.execute(update(StudyRow).where(
            StudyRow.id == study_id, StudyRow.owner == owner, StudyRow.status == "running")
            .values(baseline=baseline, heartbeat_at=utcnow())
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LostClaimError(f"study {study_id} is no longer held by {owner}")


def record_batch(url: str, study_id: int, owner: str, trials: Sequence[dict[str, Any]],
                 front: Sequence[int], counters: Mapping[str, float], *,
                 best: dict[str, Any] | None = None, phase: str = "",
                 phase_detail: str = "") -> None:
    """Store told trials, the front and the counters in one transaction.

    ``owner`` must still hold the study: the claim is checked (and refreshed) first, under a
    row lock, so a runner that lost its claim can never write a trial twice.

    Idempotent: when the batch's trials are stored already under this claim with the same
    designs (the connection dropped after the COMMIT was sent, and the call is retried), the
    call stores nothing again and succeeds.

    Args:
        url: The database.
        study_id: The study.
        owner: The runner storing the batch.
        trials: ``epim_trials`` rows (``number`` included).
        front: Numbers of the trials on the feasible front now.
        counters: The study's counters now, by the names of :data:`COUNTERS` (the columns
            of ``epim_studies`` and ``epim_progress``; ``epim.search.Counters.as_dict``).
        best: Per objective, the best front trial (``{metric: {number, value}}``).
        phase: The run's phase now, if it announces one (kept as it was otherwise).
        phase_detail: One line on the phase, for people.

    Raises:
        LostClaimError: If another runner holds the study now (nothing is written).
        BatchConflictError: If trials of these numbers are stored with other designs.
        KeyError: If a counter is missing.

    """
    values = {name: counters[name] for name in COUNTERS}
    with session_scope(url) as session:
        claimed = session.execute(
            update(StudyRow).where(StudyRow.id == study_id, StudyRow.owner == owner,
                                   StudyRow.status == "running")
            .values(**values, best=best or {}, heartbeat_at=utcnow(), claims=0,
                    **({"phase": phase[:32], "phase_detail": phase_detail[
                        :PHASE_DETAIL_CHARS]} if phase else {}))
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise LostClaimError(f"study {study_id} is no longer held by {owner}")
        stored = _stored_designs(session, study_id, [t["number"] for t in trials])
        if stored:
            wanted = {t["number"]: (t.get("design_hash", ""), t["state"]) for t in trials}
            if stored != wanted:
                raise BatchConflictError(
                    f"study {study_id}: trials {sorted(stored)[:5]} are stored already "
                    "with other designs")
        else:
            session.add_all([TrialRow(study_id=study_id, on_front=False, **trial)
                             for trial in trials])
            session.flush()
        session.execute(update(TrialRow).where(TrialRow.study_id == study_id,
                                               TrialRow.on_front.is_(True))
                        .values(on_front=False).execution_options(synchronize_session=False))
        if front:
            session.execute(update(TrialRow).where(TrialRow.study_id == study_id,
                                                   TrialRow.number.in_(list(front)))
                            .values(on_front=True).execution_options(
                                synchronize_session=False))
        if not stored:
            session.add(ProgressRow(study_id=study_id, **values))


def _stored_designs(session: Session, study_id: int, numbers: Sequence[int]
                    ) -> dict[int, tuple[str, str]]:
    """``number -> (design hash, state)`` of the stored trials among ``numbers``."""
    if not numbers:
        return {}
    rows = session.execute(select(TrialRow.number, TrialRow.design_hash, TrialRow.state)
                           .where(TrialRow.study_id == study_id,
                                  TrialRow.number.in_(list(numbers)))).all()
    return {int(n): (str(h), str(s)) for n, h, s in rows}


def load_artifact(url: str, key: str) -> bytes | None:
    """An artifact's data, or ``None``."""
    with session_scope(url) as session:
        row = session.get(ArtifactRow, key)
        return None if row is None else bytes(row.data)


def save_artifact(url: str, key: str, kind: str, data: bytes,
                  study_id: int | None = None) -> None:
    """Store an artifact (kept if the key exists) and name it in the study's artifacts."""
    with session_scope(url) as session:
        if session.get(ArtifactRow, key) is None:
            session.add(ArtifactRow(key=key, kind=kind, data=data))
        if study_id is not None:
            row = session.get(StudyRow, study_id, with_for_update=True)
            if row is not None:
                row.artifacts = {**(row.artifacts or {}), kind: key}


def study_artifact(url: str, study_id: int, kind: str) -> bytes | None:
    """The artifact of ``kind`` a study uses (its profile, its dense start), or ``None``."""
    with session_scope(url) as session:
        row = session.get(StudyRow, study_id)
        key = (row.artifacts or {}).get(kind) if row is not None else None
        artifact = session.get(ArtifactRow, key) if key is not None else None
        return None if artifact is None else bytes(artifact.data)


def load_trials(url: str, study_id: int) -> list[TrialRow]:
    """Every stored trial of a study, by number (what a resumed run replays)."""
    with session_scope(url) as session:
        return list(session.scalars(select(TrialRow).where(TrialRow.study_id == study_id)
                                    .order_by(TrialRow.number)))


def progress_history(url: str, study_id: int) -> list[ProgressRow]:
    """The study's counters after each stored batch, oldest first."""
    with session_scope(url) as session:
        return list(session.scalars(select(ProgressRow).where(ProgressRow.study_id == study_id)
                                    .order_by(ProgressRow.completed, ProgressRow.id)))


def release_study(url: str, study_id: int, owner: str, *,
                  elapsed_s: float | None = None) -> None:
    """Put a study ``owner`` runs back in the queue (its runner is stopping).

    A clean release does not count as a claim; a study whose cancellation was requested ends
    ``cancelled`` instead. ``elapsed_s`` as in :func:`finish_study`.
    """
    with session_scope(url) as session:
        for released in _end_claims(session, select(StudyRow).where(
                StudyRow.id == study_id, StudyRow.owner == owner,
                StudyRow.status == "running"), died=False, max_claims=MAX_CLAIMS):
            row = session.get(StudyRow, released)
            if elapsed_s is not None and row is not None:
                row.elapsed_s = max(row.elapsed_s, elapsed_s)


def resume_study(url: str, study_id: int) -> StudyRow | None:
    """Put a ``failed`` or ``cancelled`` study back in the queue; it runs on from its trials.

    Its error, cancellation request and claims counter are cleared. Other studies are left
    as they are (the caller reads the returned status: ``queued`` when it will run).

    Returns:
        The study afterwards, or ``None`` if there is none.

    """
    with session_scope(url) as session:
        row = session.get(StudyRow, study_id, with_for_update=True)
        if row is None:
            return None
        if row.status in RESUMABLE:
            row.status, row.error, row.finished_at = "queued", None, None
            row.cancel_requested, row.claims, row.owner = False, 0, None
            session.flush()
        return row


def stored_trial_numbers(url: str, study_id: int) -> set[int]:
    """Numbers of the trials stored for a study."""
    with session_scope(url) as session:
        return set(session.scalars(select(TrialRow.number)
                                   .where(TrialRow.study_id == study_id)))


def finish_study(url: str, study_id: int, owner: str, status: str,
                 error: str | None = None, *, elapsed_s: float | None = None) -> bool:
    """Mark a study finished (``completed``, ``failed`` or ``cancelled``) if still owned.

    ``elapsed_s``: the wall time it ran over all its runs (s), kept if larger than the stored
    one (a run that stored no batch still counts toward ``budget.timeout_s``).

    Returns whether it was (a runner that lost its claim finishes nothing).
    """
    if status not in FINISHED:
        raise ValueError(f"not a final status: {status!r}")
    values: dict[str, Any] = {"status": status, "error": error, "finished_at": utcnow(),
                              "cancel_requested": False}
    if elapsed_s is not None:
        values["elapsed_s"] = _at_least(StudyRow.elapsed_s, elapsed_s)
    with session_scope(url) as session:
        result = session.execute(update(StudyRow).where(StudyRow.id == study_id,
                                                        StudyRow.owner == owner,
                                                        StudyRow.status == "running")
                                 .values(**values)
                                 .execution_options(synchronize_session=False))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _at_least(column: Any, value: float) -> Any:
    """``max(column, value)`` in SQL (both databases)."""
    return case((column < value, value), else_=column)


#: What listings load of a trial: everything but the per-layer breakdown and the sampler's
#: replay state (``layers``, ``params``, ``system_attrs``, ``values``: about half of a row's
#: bytes); :func:`get_trial` and :func:`load_trials` give whole rows.
LISTED = load_only(TrialRow.id, TrialRow.study_id, TrialRow.number, TrialRow.state,
                   TrialRow.feasible, TrialRow.on_front, TrialRow.metrics,
                   TrialRow.constraints, TrialRow.design, TrialRow.design_hash,
                   TrialRow.accuracy_evaluated, TrialRow.source, TrialRow.node,
                   TrialRow.fidelity, TrialRow.error, TrialRow.created_at)


def list_trials(url: str, study_id: int, *, offset: int = 0, limit: int = 50,
                sort: str | None = None, descending: bool = False,
                feasible: bool | None = None) -> Page:
    """Trials of a study, paged; sorted by number or by any metric (listing columns only).

    A metric's order is computed once per set of stored trials (trials are only ever added,
    so their count identifies the set) and kept (:data:`SORTED_IDS`): the next pages, and
    every reader until the next batch, fetch only their page's rows.
    """
    with session_scope(url) as session:
        query = select(TrialRow).options(LISTED).where(TrialRow.study_id == study_id)
        counter = select(func.count()).select_from(TrialRow).where(
            TrialRow.study_id == study_id)
        if feasible is not None:
            query = query.where(TrialRow.feasible.is_(feasible))
            counter = counter.where(TrialRow.feasible.is_(feasible))
        total = int(session.scalar(counter) or 0)
        if sort is None:
            order = TrialRow.number.desc() if descending else TrialRow.number.asc()
            rows = session.scalars(query.order_by(order).offset(offset).limit(limit)).all()
            return Page(list(rows), total)
        key = (url, study_id, sort, descending, feasible, total)
        for cached in (True, False):  # a kept order that no longer fits is computed again
            ids = SORTED_IDS.get(key) if cached else None
            if ids is None:
                metric = TrialRow.metrics[sort].as_float()
                order = metric.desc() if descending else metric.asc()
                ids = array("q", session.scalars(
                    query.with_only_columns(TrialRow.id).order_by(order.nulls_last(),
                                                                  TrialRow.number)))
                SORTED_IDS.put(key, ids)
            page = list(ids[offset:offset + limit])
            found = {row.id: row for row in session.scalars(
                select(TrialRow).options(LISTED).where(TrialRow.study_id == study_id,
                                                       TrialRow.id.in_(page)))} if page else {}
            if len(found) == len(page):
                break
        return Page([found[i] for i in page if i in found], total)


def trial_page_numbers(url: str, study: StudyRow, *, offset: int = 0, limit: int = 50,
                       sort: str | None = None, descending: bool = False,
                       feasible: bool | None = None, total: int | None = None) -> Page:
    """The page :func:`list_trials` gives, as trial numbers only.

    For readers that keep the rest of each trial (it never changes once stored, only its
    ``on_front`` does: ``epim.api``'s fragments); the same order, paging and total.
    ``total``: the count of the trials the filter selects, if the caller has it already.
    A metric's order is kept as numbers (:data:`SORTED_NUMBERS`, per set of stored trials):
    a sorted page then costs no query.
    """
    with session_scope(url) as session:
        where = [TrialRow.study_id == study.id]
        if feasible is not None:
            where.append(TrialRow.feasible.is_(feasible))
        if total is None:
            total = int(session.scalar(select(func.count()).select_from(TrialRow)
                                       .where(*where)) or 0)
        if sort is None:
            order = TrialRow.number.desc() if descending else TrialRow.number.asc()
            return Page([int(n) for n in session.scalars(
                select(TrialRow.number).where(*where).order_by(order).offset(offset)
                .limit(limit))], total)
        key = (url, study.id, study.created_at, sort, descending, feasible, total)
        numbers = SORTED_NUMBERS.get(key)
        if numbers is None:
            metric = TrialRow.metrics[sort].as_float()
            order = metric.desc() if descending else metric.asc()
            numbers = array("q", session.scalars(
                select(TrialRow.number).where(*where).order_by(order.nulls_last(),
                                                               TrialRow.number)))
            SORTED_NUMBERS.put(key, numbers)
        return Page(list(numbers[offset:offset + limit]), total)


def count_trials(url: str, study_id: int, state: str | None = None) -> int:
    """How many trials (of ``state``) the study has stored.

    Trials are only ever added, so the count identifies the set of stored trials (and the
    front flags, which a batch rewrites in the transaction that adds its trials).
    """
    with session_scope(url) as session:
        query = select(func.count()).select_from(TrialRow).where(TrialRow.study_id == study_id)
        if state is not None:
            query = query.where(TrialRow.state == state)
        return int(session.scalar(query) or 0)


def front_numbers(url: str, study_id: int) -> list[int]:
    """Numbers of the study's current feasible Pareto front, ascending."""
    with session_scope(url) as session:
        return sorted(int(n) for n in session.scalars(select(TrialRow.number).where(
            TrialRow.study_id == study_id, TrialRow.on_front.is_(True))))


def trial_points_after(url: str, study_id: int, after_id: int = 0
                       ) -> list[tuple[int, int, bool, dict[str, Any]]]:
    """``(id, number, feasible, metrics)`` of the completed trials with ids above ``after_id``.

    By id: a reader that keeps the points reads only the trials stored since (a study's
    trials get increasing ids, one runner storing its batches in turn).
    """
    with session_scope(url) as session:
        rows = session.execute(select(TrialRow.id, TrialRow.number, TrialRow.feasible,
                                      TrialRow.metrics)
                               .where(TrialRow.study_id == study_id,
                                      TrialRow.state == "complete", TrialRow.id > after_id)
                               .order_by(TrialRow.id)).all()
        return [(int(i), int(n), bool(f), dict(m)) for i, n, f, m in rows]


def trials_by_numbers(url: str, study_id: int, numbers: Collection[int]) -> list[TrialRow]:
    """The study's trials of these numbers, by number (listing columns only)."""
    if not numbers:
        return []
    with session_scope(url) as session:
        return list(session.scalars(select(TrialRow).options(LISTED).where(
            TrialRow.study_id == study_id, TrialRow.number.in_(list(numbers)))
            .order_by(TrialRow.number)))


class _SortedIds:
    """A small LRU of trial ids in a metric's order, bounded by the ids it holds."""

    def __init__(self, max_ids: int = 2_000_000) -> None:
        self.max_ids = max_ids
        self._items: OrderedDict[tuple[Any, ...], array[int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> array[int] | None:
        with self._lock:
            ids = self._items.get(key)
            if ids is not None:
                self._items.move_to_end(key)
            return ids

    def put(self, key: tuple[Any, ...], ids: array[int]) -> None:
        with self._lock:
            self._items[key] = ids
            while len(self._items) > 1 and sum(map(len, self._items.values())) > self.max_ids:
                self._items.popitem(last=False)


#: Trial ids per (database, study, metric, direction, feasibility filter, trial count).
SORTED_IDS = _SortedIds()
#: Trial numbers per (database, study, its creation time, metric, direction, feasibility
#: filter, trial count): :func:`trial_page_numbers`.
SORTED_NUMBERS = _SortedIds()


def get_trial(url: str, study_id: int, number: int) -> TrialRow | None:
    """One trial, or ``None``."""
    with session_scope(url) as session:
        return session.scalar(select(TrialRow).where(TrialRow.study_id == study_id,
                                                     TrialRow.number == number))


def front_trials(url: str, study_id: int) -> list[TrialRow]:
    """The study's current feasible Pareto front, by number (listing columns only).

    Found by ``ix_epim_trials_front`` (ordered here: an ORDER BY would make SQLite walk the
    study's trials by number instead).
    """
    with session_scope(url) as session:
        rows = session.scalars(select(TrialRow).options(LISTED).where(
            TrialRow.study_id == study_id, TrialRow.on_front.is_(True)))
        return sorted(rows, key=lambda row: row.number)


def all_trial_points(url: str, study_id: int) -> list[tuple[int, bool, dict[str, Any]]]:
    """(number, feasible, metrics) of every completed trial (charts, projections)."""
    with session_scope(url) as session:
        rows = session.execute(select(TrialRow.number, TrialRow.feasible, TrialRow.metrics)
                               .where(TrialRow.study_id == study_id,
                                      TrialRow.state == "complete")).all()
        return [(int(n), bool(f), dict(m)) for n, f, m in rows]


def trials_by_design_hash(url: str, study_id: int, hashes: Sequence[str]
                          ) -> dict[str, TrialRow]:
    """The study's completed trials whose design hash is one of ``hashes`` (first of each)."""
    if not hashes:
        return {}
    with session_scope(url) as session:
        rows = session.scalars(select(TrialRow).where(
            TrialRow.study_id == study_id, TrialRow.state == "complete",
            TrialRow.design_hash.in_(list(set(hashes)))).order_by(TrialRow.number))
        found: dict[str, TrialRow] = {}
        for row in rows:
            found.setdefault(row.design_hash, row)
        return found
