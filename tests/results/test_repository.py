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
    return results.create_study(url, name=name, spec={"name": name}, n_trials=n)


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
            "constraints": [0.0], "design": {"conv1": [3, 64, 3, 3, 8, 8, 0]},
            "layers": {"crossbars": [1]}, "error": None}


def test_trials_front_and_sorting(db: str, unique_name: str) -> None:
    row = new_study(db, unique_name)
    batch = [trial(i, i % 2 == 0, area=float(10 - i)) for i in range(6)]
    progress = {"completed": 6, "feasible": 3, "failed": 0, "hypervolume": 0.5}
    results.record_trials(db, row.id, batch, [0, 2], progress)
    results.record_trials(db, row.id, batch[:2], [4], progress)  # re-recording is a no-op
    assert results.stored_trial_numbers(db, row.id) == set(range(6))
    assert [t.number for t in results.front_trials(db, row.id)] == [4]
    by_area = results.list_trials(db, row.id, sort="crossbar_area_m2")
    assert [t.number for t in by_area.items] == [5, 4, 3, 2, 1, 0]
    feasible = results.list_trials(db, row.id, feasible=True, limit=2, offset=1)
    assert feasible.total == 3 and [t.number for t in feasible.items] == [2, 4]
    assert results.get_trial(db, row.id, 3).metrics["crossbar_area_m2"] == 7.0  # type: ignore
    study = results.get_study(db, row.id)
    assert study is not None and study.completed_trials == 6 and study.hypervolume == 0.5
    assert len(results.all_trial_points(db, row.id)) == 6
    results.finish_study(db, row.id, "nobody", "completed")  # not the owner: unchanged
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
    while True:  # claim until we get ours (other tests' studies may be queued)
        claimed = results.claim_study(db, "dead-runner")
        assert claimed is not None
        if claimed.id == row.id:
            break
        results.finish_study(db, claimed.id, "dead-runner", "cancelled")
    assert row.id in results.requeue_stale(db, stale_after_s=-1.0)
    again = results.get_study(db, row.id)
    assert again is not None and again.status == "queued" and again.owner is None
