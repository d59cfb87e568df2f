"""What ``epim serve`` and ``epim runner`` print: a line per stored batch, one at the end."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from epim import results
from epim.search import Progress
from epim.service import Runner
from epim.service._progress_log import ProgressLog
from tests.service.test_runner import COST_SPEC, submit


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "epim.progress"]


def test_a_runner_logs_each_batch_and_the_end(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'lines.db'}"
    results.upgrade(url)
    study_id = submit(url, "lines", COST_SPEC)  # 20 trials in batches of 10
    caplog.set_level(logging.INFO, logger="epim.progress")
    runner = Runner(database_url=url, owner="here")
    assert runner.run_one(study_id) == "completed"
    row = results.get_study(url, study_id)
    assert row is not None
    logged = lines(caplog)
    # phases first (baseline, references, ...), then the batches: the first line says where
    # the run is before any trial is stored, and no line is printed twice
    assert logged[0].startswith(f"study {study_id} (lines): 0/20 trials, ")
    assert "phase " in logged[0]
    assert len(set(logged)) == len(logged)
    assert logged[-1] == (f"study {study_id} (lines) completed: 20/20 trials, "
                          f"{row.feasible} feasible, front {row.front_size}, "
                          f"hypervolume {row.hypervolume:.4f}, phase finished, "
                          f"{row.elapsed_s:.1f} s")
    assert any(line.startswith(f"study {study_id} (lines): 20/20 trials") for line in logged)


def progressed(done: int, front_size: int, hypervolume: float, phase: str = "") -> Progress:
    """``done`` of 1000 trials, all feasible, in ``phase``."""
    return Progress(completed=done, feasible=done, failed=0, front_size=front_size,
                    hypervolume=hypervolume, n_trials=1000, phase=phase)


def test_lines_are_throttled_but_phases_and_the_last_trial_always_show(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="epim.progress")
    log = ProgressLog(7, "busy", min_interval_s=3600)
    for done in range(0, 1000, 10):  # a fast cost-only study: 100 batches at once
        log(progressed(done, 1, 0.5, phase="search" if done >= 500 else ""))
    log(progressed(1000, 3, 0.75, phase="search"))
    log.finished("cancelled")
    logged = lines(caplog)
    assert [line.split(": ", 1)[1].split(" trials")[0] for line in logged[:3]] == [
        "0/1000", "500/1000", "1000/1000"]
    assert "phase search" in logged[1] and "phase" not in logged[0]
    assert logged[3].startswith("study 7 (busy) cancelled: 1000/1000 trials")
    assert len(logged) == 4
