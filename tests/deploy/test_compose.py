"""docker-compose.yml validated by the real Compose v2 binary (no engine needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import compose
import pytest

from epim.settings import environment_variables

ENVIRONMENT_VARIABLES = environment_variables()

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(compose.__file__).parent / "docker-compose"  # the pip wrapper exits 0 on errors
#: Variables the image's other programs read (Ray's own), allowed beside the service's.
OTHER_PROGRAMS = {"RAY_AUTH_MODE"}


def compose_run(*args: str, env_file: bool = True) -> subprocess.CompletedProcess[str]:
    command = [str(BINARY), "-f", str(ROOT / "docker-compose.yml"), "--project-directory",
               str(ROOT)]
    if env_file:
        command += ["--env-file", str(ROOT / ".env.example")]
    return subprocess.run([*command, *args], capture_output=True, text=True, check=False,
                          cwd="/")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = compose_run("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_binary_is_the_real_compose() -> None:
    result = subprocess.run([str(BINARY), "version"], capture_output=True, text=True,
                            check=True)
    assert "Docker Compose version v2" in result.stdout


def test_config_is_valid() -> None:
    result = compose_run("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_plain_up_needs_no_env_file_and_stays_local() -> None:
    result = compose_run("config", "--format", "json", env_file=False)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    (published,) = services["api"]["ports"]
    assert published["host_ip"] == "127.0.0.1" and published["published"] == "8000"
    password = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password == "epim-local-dev-only"  # a named development default
    assert f":{password}@postgres:" in services["runner"]["environment"]["EPIM_DATABASE_URL"]
    assert not services["postgres"].get("ports")  # only inside the compose network


def test_env_file_sets_the_secret_and_the_bind_address() -> None:
    result = compose_run("config", "--format", "json")
    services = json.loads(result.stdout)["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "change-me"


def test_services_and_ordering(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == {"postgres", "migrate", "api", "runner", "ray-head", "ray-worker"}
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "runner"):
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"
    assert services["ray-worker"]["depends_on"]["ray-head"]["condition"] == "service_healthy"
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"api"}  # ports only where a user needs them
    assert "pgdata" in config["volumes"]


def epim_services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in config["services"].items()
            if str(s.get("image", "")).startswith("epim-search")}


def test_every_command_is_real(config: dict[str, Any]) -> None:
    services = epim_services(config)
    assert len(services) == 5
    for name, service in services.items():
        command = service["command"]
        if command[0] == "epim":
            args = [sys.executable, "-m", "epim.cli", *[a for a in command[1:]
                                                        if not a.startswith("-")
                                                        and a not in ("0.0.0.0", "8000")]]
        else:
            assert command[0] == "ray", name
            args = [str(Path(sys.executable).parent / "ray"), command[1]]
        result = subprocess.run([*args, "--help"], capture_output=True, text=True,
                                check=False)
        assert result.returncode == 0, (name, args, result.stderr)
        if command[0] == "epim":  # the options it passes exist too
            for option in (a.split("=")[0] for a in command if a.startswith("--")):
                assert option in result.stdout, (name, option)


def test_environment_is_what_the_settings_read(config: dict[str, Any]) -> None:
    for name, service in epim_services(config).items():
        for variable in service.get("environment", {}):
            assert variable in ENVIRONMENT_VARIABLES or variable in OTHER_PROGRAMS, (name, variable)
    documented = (ROOT / ".env.example").read_text()
    for variable in ENVIRONMENT_VARIABLES:
        if variable not in ("EPIM_DATABASE_URL", "EPIM_DATA_DIR", "RAY_ADDRESS"):
            assert f"{variable}=" in documented, variable


def test_dockerfile_basics() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER epim" in text and "ARG TORCH_VARIANT=cpu" in text
    assert text.index("COPY pyproject.toml") < text.index("COPY epim")  # deps layered first


def test_one_pinned_constraints_file_for_the_makefile_and_the_image() -> None:
    import tomllib

    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[name.lower().replace("_", "-")] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    for requirement in declared:
        name = requirement.split(">")[0].split("=")[0].split("[")[0].strip().lower()
        assert name == "torch" or name.replace("_", "-") in pins, f"{name} is not pinned"
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in (ROOT / "Dockerfile").read_text()


def test_compose_smoke_is_a_make_target_outside_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "compose-smoke: $(STAMP)" in makefile
    assert "compose_smoke.py" not in makefile.split("test: ")[1].split("\n\n")[0]
    assert (ROOT / "scripts/compose_smoke.py").exists()
