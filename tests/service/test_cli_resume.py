"""``epim study resume``: a failed or cancelled study runs on from its trials."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from epim import results
from epim.cli import app
from epim.service import Runner
from tests.service.test_runner import COST_SPEC, assert_exact, status, submit


def one_batch_then_failed(url: str, name: str) -> int:
    """A study that stored one batch of 10 trials, then failed."""
    study_id = submit(url, name, {**COST_SPEC, "budget": {"n_trials": 30}})
    runner = Runner(database_url=url, owner="first")
    runner.run_one(study_id, on_progress=lambda _: runner.request_stop())
    assert results.claim_study(url, "first", study_id) is not None
    results.finish_study(url, study_id, "first", "failed", "it failed")
    assert status(url, study_id).completed == 10
    return study_id


def test_study_resume_runs_a_failed_study_on_here_or_queues_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    results.upgrade(url)
    here = one_batch_then_failed(url, "resumed-here")
    cli = CliRunner()
    done = cli.invoke(app, ["study", "resume", str(here), "--database-url", url, "--quiet"])
    assert done.exit_code == 0, done.output
    assert "completed: 30/30 trials" in done.output
    assert_exact(url, here, 30)
    again = cli.invoke(app, ["study", "resume", "resumed-here", "--database-url", url])
    assert again.exit_code == 2 and "is completed" in again.output
    queued = one_batch_then_failed(url, "queued-again")
    result = cli.invoke(app, ["study", "resume", str(queued), "--database-url", url,
                              "--queue"])
    assert result.exit_code == 0 and "queued" in result.output
    row = status(url, queued)
    assert row.status == "queued" and row.error is None and row.completed == 10
