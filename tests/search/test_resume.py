"""A study process killed mid-run resumes to exactly its budget (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

SPEC = {
    "network": "resnet20",
    "space": {"weight_bits": [2, 4, 8], "epitome": {"pim_aligned": False}},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
    "sampler": {"name": "nsga2", "seed": 0, "population_size": 4},
    "budget": {"n_trials": 12}, "batch_size": 4,
    "accuracy": {"proxy": "train", "dataset": "digits", "steps": 60, "width": 0.25,
                 "batch_size": 32},
    "executor": {"kind": "local"},
}


def run_cli(spec_path: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "epim.cli", "study", "run", str(spec_path), "--database-url",
         url, "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def states(url: str, name: str) -> dict[TrialState, int]:
    try:
        study = optuna.load_study(study_name=name, storage=url)
    except KeyError:
        return {}
    counts: dict[TrialState, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state] = counts.get(trial.state, 0) + 1
    return counts


def test_killed_study_resumes_with_exact_counts(database_url: str, unique_name: str,
                                                tmp_path: Path) -> None:
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump({"name": unique_name, **SPEC}))
    process = run_cli(spec_path, database_url)
    deadline = time.monotonic() + 240
    # wait until one batch is told and the next one has been asked (trials RUNNING)
    while time.monotonic() < deadline:
        counts = states(database_url, unique_name)
        if counts.get(TrialState.COMPLETE, 0) >= 4 and counts.get(TrialState.RUNNING, 0) > 0:
            break
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.2)
    else:
        raise AssertionError(f"study did not progress: {states(database_url, unique_name)}")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = states(database_url, unique_name)
    assert before.get(TrialState.RUNNING, 0) > 0  # the kill left a batch in flight
    completed_before = before.get(TrialState.COMPLETE, 0)

    resumed = run_cli(spec_path, database_url)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read() if resumed.stderr else ""
    study = optuna.load_study(study_name=unique_name, storage=database_url)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    interrupted = [t for t in trials if t.user_attrs.get("epim_interrupted")]
    assert len(complete) == 12  # exactly the budget: nothing lost, nothing counted twice
    assert len(interrupted) == before[TrialState.RUNNING]
    assert all(t.state == TrialState.FAIL for t in interrupted)
    assert not any(t.state == TrialState.RUNNING for t in trials)
    assert len(complete) >= completed_before
    assert len({t.number for t in trials}) == len(trials)
    assert study.user_attrs["epim_progress"]["completed"] == 12
    optuna.delete_study(study_name=unique_name, storage=database_url)
