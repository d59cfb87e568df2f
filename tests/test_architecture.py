"""DESIGN.md section 2: layering and heavy imports stay in their rooms."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layering_contract() -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 6 kept, 0 broken" in result.stdout


def test_light_packages_do_not_import_heavy_dependencies() -> None:
    code = (
        "import sys, epim, epim.cli, epim.workloads, epim.space, epim.cost_model\n"
        "heavy = {'torch', 'ray', 'sqlalchemy', 'fastapi', 'optuna', 'pandas', 'onnx'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_the_api_process_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from epim.api import create_app\n"
        "from epim.settings import Settings\n"
        "import epim.service, epim.results, epim.search\n"
        "create_app(Settings(database_url='sqlite://'))\n"
        "print(sorted({'torch', 'ray', 'onnx'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
