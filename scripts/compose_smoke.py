"""`make compose-smoke`: the compose stack for real on this machine's Docker engine.

1. A Docker engine: the running one, else Debian's docker.io started as root.
2. The base images under the names the Dockerfile and docker-compose.yml use: pulled where a
   registry answers, else local stand-ins built from Debian packages (debootstrap bookworm,
   `docker import`): Python 3.11 with pip for python:3.11-slim-bookworm, Debian's PostgreSQL
   with deploy/standins/postgres-entrypoint.sh for postgres:16-bookworm.
3. The project's image (CPU torch; this machine's torch wheel when it has one), its size.
4. Plain `docker compose up -d` (no .env), health, a study with proxy accuracy over the API,
   run on the runner with its trainings on the Ray worker, stored in the compose PostgreSQL.
5. `docker compose down` then `up -d`: the study is still there (the pgdata volume).
6. Everything taken down (`down -v`). The last line says what was verified.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import compose
import httpx

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = Path(compose.__file__).parent / "docker-compose"  # the binary (the wrapper exits 0)
CACHE = Path(os.environ.get("EPIM_STANDIN_CACHE", "/var/cache/epim-standins"))
PROJECT = "epim-smoke"
API = f"http://127.0.0.1:{os.environ.get('EPIM_PORT', '8000')}"
MIRROR = "http://deb.debian.org/debian"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BASES = {
    "python:3.11-slim-bookworm": {
        "packages": "python3,python3-pip,python3-venv,ca-certificates,curl,passwd",
        "changes": ["ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
                    "ENV LANG=C.UTF-8", 'CMD ["python3"]'],
    },
    "postgres:16-bookworm": {
        "packages": "postgresql,ca-certificates",
        "changes": ["ENV PGDATA=/var/lib/postgresql/data", "ENV PGPORT=5432", "EXPOSE 5432",
                    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'],
    },
}
STUDY = {
    "name": "compose-smoke", "network": "resnet20",
    "space": {"epitome": {"channel_ratios": [1, 2, 4], "pim_aligned": False},
              "weight_bits": [3, 4, 8], "frozen": ["first", "last"]},
    "objectives": [{"metric": "crossbar_area_m2"}, {"metric": "accuracy"}],
    "constraints": [{"metric": "crossbar_area_reduction", "min": 2}],
    "sampler": {"name": "nsga2", "seed": 0, "population_size": 4},
    "budget": {"n_trials": 8}, "batch_size": 4,
    "accuracy": {"proxy": "train", "dataset": "digits", "steps": 20, "width": 0.25,
                 "pretrain_steps": 40, "batch_size": 32, "eval_samples": 300},
    "executor": {"kind": "ray", "cpus_per_trial": 1},
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(*args: str, check: bool = True, quiet: bool = False, **kwargs: Any
        ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), text=True, capture_output=True, check=False, **kwargs)
    if check and done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(args)}\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    if not quiet and done.stdout.strip():
        print(done.stdout.strip()[-2000:], flush=True)
    return done


def compose_cmd(*args: str, check: bool = True, quiet: bool = False
                ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_PASSWORD",)}
    return run(str(COMPOSE), "--project-name", PROJECT, "--project-directory", str(ROOT),
               "-f", str(ROOT / "docker-compose.yml"), *args, check=check, quiet=quiet,
               env=env, cwd=str(ROOT))


def ensure_engine() -> str:
    if run("docker", "info", check=False, quiet=True).returncode == 0:
        return "running engine"
    if os.geteuid() != 0:
        raise SystemExit("no Docker engine runs and this is not root: start one (dockerd)")
    if shutil.which("dockerd") is None:
        log("installing Debian's docker.io")
        run("apt-get", "install", "-y", "-q", "docker.io", quiet=True)
    log("starting dockerd")
    logfile = open("/var/log/epim-dockerd.log", "ab")  # noqa: SIM115 - lives with dockerd
    subprocess.Popen(["dockerd"], stdout=logfile, stderr=logfile, start_new_session=True)
    for _ in range(60):
        if run("docker", "info", check=False, quiet=True).returncode == 0:
            return "dockerd started here"
        time.sleep(1)
    raise SystemExit("dockerd did not come up (see /var/log/epim-dockerd.log)")


def ensure_base(name: str) -> str:
    if run("docker", "image", "inspect", name, check=False, quiet=True).returncode == 0:
        return "present"
    pulled = run("timeout", "90", "docker", "pull", name, check=False, quiet=True)
    if pulled.returncode == 0:
        return "pulled"
    spec = BASES[name]
    rootfs = CACHE / name.replace(":", "_")
    if not (rootfs / "usr").exists():
        if shutil.which("debootstrap") is None:
            run("apt-get", "install", "-y", "-q", "debootstrap", quiet=True)
        log(f"debootstrap bookworm for {name} ({spec['packages']})")
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        run("debootstrap", "--variant=minbase", f"--include={spec['packages']}", "bookworm",
            str(rootfs), MIRROR, quiet=True)
    if name.startswith("python"):
        python = rootfs / "usr/bin/python"
        if not python.exists():
            python.symlink_to("python3")
        (rootfs / "usr/lib/python3.11/EXTERNALLY-MANAGED").unlink(missing_ok=True)
        if HOST_CA.exists():  # this machine's trust store (it may intercept TLS)
            shutil.copy(HOST_CA, rootfs / "etc/ssl/certs/ca-certificates.crt")
    else:
        target = rootfs / "usr/local/bin/docker-entrypoint.sh"
        shutil.copy(ROOT / "deploy/standins/postgres-entrypoint.sh", target)
        target.chmod(0o755)
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    changes = [arg for change in spec["changes"] for arg in ("--change", change)]
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    run("docker", "import", *changes, "-", name, stdin=tar.stdout, quiet=True)
    tar.wait()
    return "stand-in built from Debian packages"


def build_image() -> str:
    wheels = ROOT / "docker/wheels"
    for wheel in Path("/opt/wheels").glob("torch-2.13.0+cpu-*.whl"):
        if not (wheels / wheel.name).exists():
            shutil.copy(wheel, wheels / wheel.name)
    log("building epim-search:latest")
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    run("docker", "build", "-t", "epim-search:latest", str(ROOT), env=env, quiet=True)
    size = int(run("docker", "image", "inspect", "epim-search:latest", "--format",
                   "{{.Size}}", quiet=True).stdout.strip())
    return f"{size / 1e9:.2f} GB"


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(2)
    compose_cmd("logs", "--tail", "40", check=False)
    raise SystemExit(f"timed out waiting for {what}")


def node_addresses() -> dict[str, str]:
    """Ray node id -> IP address, as the cluster's head reports them."""
    code = ("import json, ray; ray.init(log_to_driver=False); "
            "print(json.dumps({n['NodeID']: n['NodeManagerAddress'] for n in ray.nodes()}))")
    # the head's own GCS, not the services' ray:// client address
    out = compose_cmd("exec", "-T", "-e", "RAY_ADDRESS=127.0.0.1:6379", "ray-head", "python",
                      "-c", code, quiet=True).stdout
    nodes: dict[str, str] = json.loads(out.strip().splitlines()[-1])
    return nodes


def container_ip(service: str) -> str:
    container = compose_cmd("ps", "-q", service, quiet=True).stdout.strip().splitlines()[0]
    return run("docker", "inspect", "-f",
               "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container,
               quiet=True).stdout.strip()


def main() -> None:
    started = time.monotonic()
    if (ROOT / ".env").exists():
        raise SystemExit(".env exists: the smoke test checks plain `docker compose up`")
    engine = ensure_engine()
    bases = {name: ensure_base(name) for name in BASES}
    for name, how in bases.items():
        log(f"{name}: {how}")
    size = build_image()
    log(f"image epim-search:latest {size}")
    compose_cmd("down", "-v", "--remove-orphans", check=False, quiet=True)
    try:
        log("docker compose up -d")
        compose_cmd("up", "-d", quiet=True)
        wait_for(lambda: httpx.get(f"{API}/healthz", timeout=5).status_code == 200, 300,
                 "the API's health")
        created = httpx.post(f"{API}/studies", json=STUDY, timeout=30)
        assert created.status_code == 202, created.text
        study_id = created.json()["id"]
        def finished() -> dict[str, Any] | None:
            study: dict[str, Any] = httpx.get(f"{API}/studies/{study_id}", timeout=10).json()
            return study if study["status"] in ("completed", "failed") else None

        done = wait_for(finished, 900, "the study")
        assert done["status"] == "completed", done.get("error")
        front = httpx.get(f"{API}/studies/{study_id}/pareto", timeout=10).json()["trials"]
        trials = httpx.get(f"{API}/studies/{study_id}/trials?limit=100",
                           timeout=10).json()["items"]
        assert front, "empty front"
        addresses = node_addresses()
        worker_ip = container_ip("ray-worker")
        used = {addresses.get(t["node"], t["node"]) for t in trials if t.get("node")}
        assert used == {worker_ip}, f"trials ran on {used}, the Ray worker is {worker_ip}"
        log(f"study {study_id}: {len(trials)} trials, front {len(front)}, all on the worker")
        compose_cmd("down", quiet=True)
        compose_cmd("up", "-d", quiet=True)
        wait_for(lambda: httpx.get(f"{API}/healthz", timeout=5).status_code == 200, 300,
                 "the API after down/up")
        again = httpx.get(f"{API}/studies/{study_id}", timeout=10).json()
        assert again["status"] == "completed" and again["progress"]["completed"] == \
            done["progress"]["completed"], again
        kept = json.dumps({"study": study_id, "trials": again["progress"]["completed"]})
    except BaseException:
        compose_cmd("ps", "-a", check=False)
        print(compose_cmd("logs", "--tail", "30", check=False, quiet=True).stdout[-6000:])
        raise
    finally:
        compose_cmd("down", "-v", "--remove-orphans", check=False, quiet=True)
    minutes = (time.monotonic() - started) / 60
    print(f"compose-smoke OK in {minutes:.1f} min: engine ({engine}); bases "
          + "; ".join(f"{k} {v}" for k, v in bases.items())
          + f"; image epim-search:latest {size}; plain `docker compose up -d` (no .env) healthy; "
          f"study over the API completed with {len(front)} front designs, its "
          f"{len(trials)} proxy trainings on the Ray worker node ({worker_ip}); data kept "
          f"across down/up ({kept}); everything taken down", flush=True)


if __name__ == "__main__":
    sys.exit(main())
