"""Repository contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from epim import results


@pytest.fixture
def db(database_url: str) -> str:
    results.upgrade(database_url)
    return database_url


def new_study(url: str, name: str, n: int = 10) -> results.StudyRow:
    return results.create_study(url, name=name, spec={"name": name}, n_trials=n,
                                network="resnet20")


def claim(url: str, study_id: int, owner: str) -> results.StudyRow:
    claimed = results.claim_study(url, owner, study_id)
    assert claimed is not None and claimed.id == study_id
    return claimed


def test_migrations_and_schema_check(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with pytest.raises(results.SchemaError, match="epim db upgrade"):
        results.require_migrated(url)
    assert results.upgrade(url) == results.head_revision()
    results.require_migrated(url)
    assert results.upgrade(url) == results.head_revision()  # idempotent


def test_study_lifecycle(db: str, unique_name: str) -> None:
    row = new_study(db, unique_name)
    assert row.status == "queued" and row.id > 0
    assert results.get_study(db, row.id).name == unique_name  # type: ignore[union-attr]
    page = results.list_studies(db, status="queued", limit=500)
    assert row.id in [r.id for r in page.items] and page.total >= 1
    claimed = results.claim_study(db, "runner-a")
    assert claimed is not None and claimed.status == "running" and claimed.owner == "runner-a"
    owned, cancel = results.heartbeat(db, claimed.id, "runner-a")
    assert owned and not cancel
    assert results.heartbeat(db, claimed.id, "runner-b") == (False, False)
    cancelled = results.request_cancel(db, claimed.id)
    assert cancelled is not None and cancelled.cancel_requested
    assert results.heartbeat(db, claimed.id, "runner-a") == (True, True)
    assert results.delete_study(db, claimed.id).status == "running"  # type: ignore[union-attr]
    assert results.get_study(db, claimed.id) is not None  # a running study is not deleted
    results.finish_study(db, claimed.id, "runner-a", "cancelled")
    assert results.get_study(db, claimed.id).status == "cancelled"  # type: ignore[union-attr]
    assert results.delete_study(db, claimed.id) is not None
    assert results.get_study(db, claimed.id) is None


def trial(number: int, feasible: bool, area: float) -> dict[str, Any]:
    return {"number": number, "state": "complete", "feasible": feasible,
            "metrics": {"crossbar_area_m2": area, "latency_s": 1.0 / (number + 1)},
            "constraints": [0.0], "layers": {"crossbars": [1]}, "error": None,
            "design": {"network": "resnet20", "layers": {"conv1": {"epitome_in": 3}}},
            "design_hash": f"h{number}", "params": {"conv1/wbits": 8}, "system_attrs": {},
            "values": [area], "accuracy_evaluated": False, "node": None, "source": "nsga2",
            "fidelity": None}


def progress(completed: int, **changes: Any) -> dict[str, Any]:
    """The six counters (``results.COUNTERS``) after ``completed`` trials."""
    return {"completed": completed, "feasible": 3, "failed": 0, "front_size": 2,
            "hypervolume": 0.5, "elapsed_s": 1.5, **changes}


BEST = {"crossbar_area_m2": {"number": 4, "value": 6.0}}


def test_batches_front_and_sorting(db: str, unique_name: str) -> None:
    row = new_study(db, unique_name)
    claim(db, row.id, "me")
    batch = [trial(i, i % 2 == 0, area=float(10 - i)) for i in range(6)]
    results.record_batch(db, row.id, "me", batch[:3], [0, 2], progress(3))
    results.record_batch(db, row.id, "me", batch[3:], [4], progress(6), best=BEST)
    assert results.stored_trial_numbers(db, row.id) == set(range(6))
    assert [t.number for t in results.front_trials(db, row.id)] == [4]
    by_area = results.list_trials(db, row.id, sort="crossbar_area_m2")
    assert [t.number for t in by_area.items] == [5, 4, 3, 2, 1, 0]
    feasible = results.list_trials(db, row.id, feasible=True, limit=2, offset=1)
    assert feasible.total == 3 and [t.number for t in feasible.items] == [2, 4]
    stored = results.get_trial(db, row.id, 3)
    assert stored is not None and stored.metrics["crossbar_area_m2"] == 7.0
    assert stored.params == {"conv1/wbits": 8} and stored.design["network"] == "resnet20"
    study = results.get_study(db, row.id)
    assert study is not None and study.completed == 6 and study.hypervolume == 0.5
    assert study.elapsed_s == 1.5 and study.best["crossbar_area_m2"]["number"] == 4
    assert [p.completed for p in results.progress_history(db, row.id)] == [3, 6]
    assert len(results.all_trial_points(db, row.id)) == 6
    assert [t.number for t in results.load_trials(db, row.id)] == list(range(6))
    assert not results.finish_study(db, row.id, "nobody", "completed")  # not the owner
    assert results.get_study(db, row.id).status == "running"  # type: ignore[union-attr]


def test_a_runner_that_lost_its_claim_writes_nothing(db: str, unique_name: str) -> None:
    row = new_study(db, unique_name)
    claim(db, row.id, "first")
    assert row.id in results.requeue_stale(db, stale_after_s=-1.0)
    claim(db, row.id, "second")
    with pytest.raises(results.LostClaimError):
        results.record_batch(db, row.id, "first", [trial(0, True, 1.0)], [0], progress(1))
    with pytest.raises(results.LostClaimError):
        results.save_baseline(db, row.id, "first", {"metrics": {}, "layers": []})
    assert results.stored_trial_numbers(db, row.id) == set()
    results.record_batch(db, row.id, "second", [trial(0, True, 1.0)], [0], progress(1))
    assert results.stored_trial_numbers(db, row.id) == {0}
    assert results.running_claims(db) == [(row.id, "second")] or (row.id, "second") in \
        results.running_claims(db)
    assert not results.requeue_owned(db, row.id, "first")
    assert results.requeue_owned(db, row.id, "second")
    assert results.get_study(db, row.id).status == "queued"  # type: ignore[union-attr]


def test_concurrent_claims_take_each_study_once(db: str, unique_name: str) -> None:
    ids = {new_study(db, f"{unique_name}-{i}").id for i in range(6)}
    taken: list[tuple[str, int]] = []
    lock = threading.Lock()

    def claimer(owner: str) -> None:
        while True:
            row = results.claim_study(db, owner)
            if row is None:
                if not any(r.status == "queued" for r in results.list_studies(
                        db, status="queued", limit=500).items if r.id in ids):
                    return
                continue
            with lock:
                taken.append((owner, row.id))

    threads = [threading.Thread(target=claimer, args=(f"r{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    mine = [study_id for _, study_id in taken if study_id in ids]
    assert sorted(mine) == sorted(ids)  # every study claimed exactly once


def test_stale_claims_are_requeued(db: str, unique_name: str) -> None:
    row = new_study(db, unique_name)
    claim(db, row.id, "dead-runner")
    assert row.id not in results.requeue_stale(db, stale_after_s=60.0)
    assert row.id in results.requeue_stale(db, stale_after_s=-1.0)
    again = results.get_study(db, row.id)
    assert again is not None and again.status == "queued" and again.owner is None


def test_the_migrations_match_the_models(db: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from epim.results._models import Base

    with results.make_engine(db).connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "include_name": lambda name, type_, _: type_ != "table" or (
                name.startswith("epim_") and name != results.VERSION_TABLE)})
        assert compare_metadata(context, Base.metadata) == []


def test_designs_stored_by_0001_are_rewritten_by_name(tmp_path: Any) -> None:
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    results.upgrade(url, "0001")
    with results.make_engine(url).begin() as connection:
        connection.execute(text(
            "INSERT INTO epim_studies (id, name, spec, status, created_at, updated_at, n_trials,"
            " completed_trials, feasible_trials, failed_trials, hypervolume, cancel_requested,"
            " runs) VALUES (1, 'old', '{\"network\": \"vgg8\"}', 'completed', '2026-01-01',"
            " '2026-01-01', 1, 1, 1, 0, 0.5, 0, 1)"))
        connection.execute(text(
            "INSERT INTO epim_trials (study_id, number, state, feasible, metrics, constraints,"
            " design, layers, created_at, on_front) VALUES (1, 0, 'complete', 1, '{}', '[]',"
            " '{\"conv1\": [3, 64, 3, 3, 8, 8, 0]}', '{}', '2026-01-01', 1)"))
    assert results.upgrade(url) == results.head_revision()
    old = results.get_trial(url, 1, 0)
    assert old is not None and old.design == {"network": "vgg8", "layers": {"conv1": {
        "epitome_in": 3, "epitome_out": 64, "epitome_h": 3, "epitome_w": 3, "weight_bits": 8,
        "act_bits": 8, "channel_offsets": 0}}}
    assert results.get_study(url, 1).network == "vgg8"  # type: ignore[union-attr]


def test_a_batch_retried_after_its_commit_was_lost_is_stored_once(db: str, unique_name: str
                                                                   ) -> None:
    row = new_study(db, unique_name)
    claim(db, row.id, "me")
    batch = [trial(i, True, float(10 - i)) for i in range(3)]
    results.record_batch(db, row.id, "me", batch, [0, 1, 2], progress(3))
    results.record_batch(db, row.id, "me", batch, [0, 1, 2], progress(3))  # the retry
    assert [t.number for t in results.load_trials(db, row.id)] == [0, 1, 2]
    assert [p.completed for p in results.progress_history(db, row.id)] == [3]
    other = [{**trial(2, True, 1.0), "design_hash": "another design"}]
    with pytest.raises(results.BatchConflictError, match="other designs"):
        results.record_batch(db, row.id, "me", other, [2], progress(3))
    assert results.get_trial(db, row.id, 2).design_hash == "h2"  # type: ignore[union-attr]


def test_a_study_whose_cancel_was_requested_is_never_claimed_again(db: str, unique_name: str
                                                                    ) -> None:
    ids = [new_study(db, f"{unique_name}-{i}").id for i in range(3)]
    for study_id, end in zip(ids, ("stale", "owned", "released"), strict=True):
        claim(db, study_id, "dead")
        results.request_cancel(db, study_id)
        if end == "stale":
            assert results.requeue_stale(db, stale_after_s=-1.0) == [study_id]
        elif end == "owned":
            assert results.requeue_owned(db, study_id, "dead")
        else:
            results.release_study(db, study_id, "dead")
        row = results.get_study(db, study_id)
        assert row is not None and row.status == "cancelled" and row.finished_at is not None
        assert not row.cancel_requested
    assert results.claim_study(db, "next") is None


def test_a_study_whose_runner_keeps_dying_fails_instead_of_looping(db: str, unique_name: str
                                                                   ) -> None:
    row = new_study(db, unique_name)
    for _ in range(2):
        claim(db, row.id, "doomed")
        assert results.requeue_owned(db, row.id, "doomed")
    claim(db, row.id, "doomed")
    results.release_study(db, row.id, "doomed")  # a clean stop does not count
    claim(db, row.id, "doomed")
    results.record_batch(db, row.id, "doomed", [trial(0, True, 1.0)], [0], progress(1))
    assert results.get_study(db, row.id).claims == 0  # type: ignore[union-attr]
    assert results.requeue_stale(db, stale_after_s=-1.0) == [row.id]  # it made progress
    for _ in range(3):  # three claims in a row without progress, each ending in a death
        assert results.get_study(db, row.id).status == "queued"  # type: ignore[union-attr]
        claim(db, row.id, "doomed")
        assert results.requeue_stale(db, stale_after_s=-1.0) == [row.id]
    failed = results.get_study(db, row.id)
    assert failed is not None and failed.status == "failed" and failed.claims == 3
    assert failed.error is not None and "3 times in a row" in failed.error
    assert results.claim_study(db, "next") is None
    resumed = results.resume_study(db, row.id)
    assert resumed is not None and resumed.status == "queued" and resumed.claims == 0
    assert resumed.error is None
    assert claim(db, row.id, "next").runs == 8


def test_only_failed_and_cancelled_studies_are_resumed(db: str, unique_name: str) -> None:
    row = new_study(db, unique_name)
    claim(db, row.id, "me")
    assert results.resume_study(db, row.id).status == "running"  # type: ignore[union-attr]
    results.finish_study(db, row.id, "me", "completed")
    assert results.resume_study(db, row.id).status == "completed"  # type: ignore[union-attr]
    assert results.resume_study(db, 2**31 - 1) is None


def test_deleting_a_cancelled_study_whose_runner_is_gone(db: str, unique_name: str) -> None:
    row = new_study(db, unique_name)
    claim(db, row.id, "gone")
    assert results.delete_study(db, row.id, stale_after_s=-1.0).status == "running"  # type: ignore[union-attr]
    results.request_cancel(db, row.id)
    kept = results.delete_study(db, row.id, stale_after_s=60.0)  # its runner may stop it
    assert kept is not None and kept.status == "running"
    deleted = results.delete_study(db, row.id, stale_after_s=-1.0)
    assert deleted is not None and deleted.status == "cancelled"
    assert results.get_study(db, row.id) is None


def test_timestamps_are_utc_aware_and_ids_are_never_reused(db: str, unique_name: str) -> None:
    from datetime import UTC, datetime, timedelta

    first = new_study(db, unique_name)
    second = new_study(db, unique_name + "-2")
    stored = results.get_study(db, second.id)
    assert stored is not None and stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timedelta(0)
    assert abs(stored.created_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert results.delete_study(db, second.id) is not None
    third = new_study(db, unique_name + "-3")
    assert third.id > second.id > first.id  # the deleted study's id is not given again


def test_migrating_to_0004_keeps_every_trial(tmp_path: Any) -> None:
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'before-0004.db'}"
    results.upgrade(url, "0003")
    with results.make_engine(url).begin() as connection:
        for study_id in (1, 2):
            connection.execute(text(
                "INSERT INTO epim_studies (id, name, spec, status, created_at, updated_at,"
                " n_trials, completed_trials, feasible_trials, failed_trials, hypervolume,"
                " cancel_requested, runs) VALUES (:id, 'old', '{}', 'completed', "
                "'2026-01-01 10:00:00', '2026-01-01 10:00:00', 1, 1, 1, 0, 0.5, 0, 1)"),
                {"id": study_id})
            connection.execute(text(
                "INSERT INTO epim_trials (study_id, number, state, feasible, metrics,"
                " constraints, design, layers, created_at, on_front) VALUES (:id, 0,"
                " 'complete', 1, '{}', '[]', '{}', '{}', '2026-01-01', 1)"), {"id": study_id})
    assert results.upgrade(url) == results.head_revision()
    assert [len(results.load_trials(url, i)) for i in (1, 2)] == [1, 1]
    old = results.get_study(url, 2)
    assert old is not None and old.claims == 0 and old.created_at.tzinfo is not None
    assert old.created_at.hour == 10  # stored as UTC, read back as UTC
    results.delete_study(url, 2)
    assert new_study(url, "after").id == 3
    with results.make_engine(url).connect() as connection:  # keys are enforced again
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_run_stores_its_phase_and_a_lost_claim_stores_none(db: str, unique_name: str
                                                             ) -> None:
    row = new_study(db, unique_name)
    assert row.phase is None  # nothing announced before a run
    claim(db, row.id, "me")
    results.save_phase(db, row.id, "me", "references", "17 uniform hand designs",
                       elapsed_s=0.25)
    study = results.get_study(db, row.id)
    assert study is not None and (study.phase, study.phase_detail) == (
        "references", "17 uniform hand designs") and study.elapsed_s == 0.25
    results.record_batch(db, row.id, "me", [trial(0, True, 1.0)], [0],
                         progress(1), phase="solving", phase_detail="x" * 400)
    study = results.get_study(db, row.id)
    assert study is not None and study.phase == "solving"
    assert study.phase_detail == "x" * results.PHASE_DETAIL_CHARS  # cut to the column
    with pytest.raises(results.LostClaimError):
        results.save_phase(db, row.id, "another runner", "training")
    study = results.get_study(db, row.id)
    assert study is not None and study.phase == "solving"


def test_migrating_to_0006_keeps_the_counters_under_their_new_names(database_url: str
                                                                    ) -> None:
    from sqlalchemy import text

    results.upgrade(database_url, "0005")
    with results.make_engine(database_url).begin() as connection:
        connection.execute(text(
            "INSERT INTO epim_studies (id, name, spec, status, created_at, updated_at,"
            " n_trials, completed_trials, feasible_trials, failed_trials, front_size,"
            " hypervolume, elapsed_s, cancel_requested, runs, claims) VALUES (7, 'old', '{}',"
            " 'completed', '2026-01-01 10:00:00', '2026-01-01 10:00:00', 40, 37, 21, 3, 5,"
            " 0.625, 12.5, false, 1, 0)"))
        connection.execute(text(
            "INSERT INTO epim_progress (study_id, completed, feasible, failed, front_size,"
            " hypervolume, elapsed_s, created_at) VALUES (7, 37, 21, 3, 5, 0.625, 12.5,"
            " '2026-01-01 10:00:00')"))
    assert results.upgrade(database_url) == results.head_revision()
    row = results.get_study(database_url, 7)
    assert row is not None
    assert {name: getattr(row, name) for name in results.COUNTERS} == {
        "completed": 37, "feasible": 21, "failed": 3, "front_size": 5, "hypervolume": 0.625,
        "elapsed_s": 12.5}
    [point] = results.progress_history(database_url, 7)
    assert {name: getattr(point, name) for name in results.COUNTERS} == {
        name: getattr(row, name) for name in results.COUNTERS}


def test_the_counters_have_one_vocabulary() -> None:
    from dataclasses import fields

    from epim.search import Counters, Progress
    from epim.service import CountersDocument, HistoryPoint, StudyProgress

    assert tuple(f.name for f in fields(Counters)) == results.COUNTERS
    assert issubclass(Progress, Counters)
    for table in (results.StudyRow, results.ProgressRow):
        assert set(results.COUNTERS) <= set(table.__table__.columns.keys())
    assert tuple(CountersDocument.model_fields) == results.COUNTERS
    for document in (HistoryPoint, StudyProgress):  # the API's and the CLI's progress
        assert tuple(document.model_fields)[:len(results.COUNTERS)] == results.COUNTERS
