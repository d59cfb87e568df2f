"""The compose topology as real processes: Ray head + worker, two runners, the API, PostgreSQL."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("cluster_demo", ROOT / "scripts/cluster_demo.py")
assert spec and spec.loader
cluster_demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cluster_demo)


def test_topology_on_one_machine(postgres_url: str, tmp_path: Path) -> None:
    findings = cluster_demo.run(postgres_url, tmp_path)
    assert findings["ray_nodes_used"] == 2  # trials ran on both Ray nodes
    studies = findings["studies"]
    assert len(studies) == 2
    for info in studies.values():
        assert info["status"] == "completed" and info["completed"] == 8
        assert info["runs"] == 1  # each study ran exactly once
        assert info["front"] > 0 and info["chart"]  # fronts are served
    # everything started was stopped, by PID
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
