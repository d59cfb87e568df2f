"""``epim db upgrade``, ``epim serve``, ``epim runner`` and ``epim submit``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from epim.cli._common import DatabaseOption, settings, user_errors

if TYPE_CHECKING:
    from epim.settings import Settings

db_app = typer.Typer(help="The service database.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.add_typer(db_app, name="db")
    app.command("serve")(serve)
    app.command("runner")(runner_command)
    app.command("submit")(submit)


@db_app.command("upgrade")
@user_errors
def db_upgrade(database_url: DatabaseOption = None) -> None:
    """Create or migrate the service's tables (Alembic); run once per deployment."""
    from epim.results import redact, upgrade

    url = settings(database_url).database_url
    revision = upgrade(url)
    typer.echo(f"database {redact(url)} at revision {revision}")


def _runner_kwargs(config: Settings) -> dict[str, Any]:
    return {"database_url": config.database_url, "ray_address": config.ray_address,
            "max_concurrent": config.runner_concurrency, "heartbeat_s": config.heartbeat_s,
            "stale_after_s": config.stale_after_s, "data_roots": config.data_roots,
            "checkpoints": config.checkpoints,
            "worker_max_bytes": config.worker_max_bytes, "limits": config.limits()}


@user_errors
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    database_url: DatabaseOption = None,
    runners: Annotated[int, typer.Option("--runners", min=0, max=64, help=(
        "Study runners, each in a child process restarted if it dies (0: the API only, for "
        "deployments that run `epim runner` on their own)."))] = 1,
) -> None:
    """Run the REST API and study runners until SIGTERM or Ctrl-C.

    The runners are child processes (supervised, restarted if they die): no study runs in
    the API's interpreter, so the API stays responsive while studies train. On SQLite (the
    embedded default) the database is created and migrated here; PostgreSQL needs
    `epim db upgrade` first. Stopping puts running studies back in the queue.
    """
    import logging

    import uvicorn

    from epim.api import create_app
    from epim.results import ensure_schema, redact
    from epim.service import RunnerProcess

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    config = settings(database_url)
    ensure_schema(config.database_url)
    pool = [RunnerProcess(**_runner_kwargs(config)) for _ in range(runners)]
    app = create_app(config, runners=pool)
    typer.echo(f"EPIM Search on http://{host}:{port}/ (API docs /docs), database "
               f"{redact(config.database_url)}, {runners} runner(s)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@user_errors
def runner_command(database_url: DatabaseOption = None) -> None:
    """Run one study runner (no API) until SIGTERM or Ctrl-C (its studies go back to the queue).

    On SQLite the database is created and migrated here; PostgreSQL needs `epim db upgrade`.
    """
    import logging
    import signal
    import threading

    from epim.results import ensure_schema, redact
    from epim.service import Runner

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = settings(database_url)
    ensure_schema(config.database_url)
    runner = Runner(**_runner_kwargs(config))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runner.start()
    typer.echo(f"runner {runner.owner} on {redact(config.database_url)}", err=True)
    stop.wait()
    runner.stop()
    typer.echo(f"runner {runner.owner} stopped", err=True)


@user_errors
def submit(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="Study spec file.")],
    url: Annotated[str, typer.Option("--url", help="The service's base URL.")
                   ] = "http://127.0.0.1:8000",
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="EPIM_API_KEY")] = None,
    idempotency_key: Annotated[str | None, typer.Option(
        "--idempotency-key", metavar="KEY", help="Sent as Idempotency-Key: submitting again "
        "with the same key and spec gives back the first study instead of a second.")
    ] = None,
) -> None:
    """Submit a study spec to a running service (checked here first); prints its URLs.

    A spec equal to a stored study's (same name and settings) makes a second study all the
    same, with a note naming the first on stderr; ``--idempotency-key`` returns the first.
    """
    import httpx

    from epim.cli._study import load_spec_file
    from epim.errors import InputError

    spec = load_spec_file(spec_path)
    base = url.rstrip("/")
    try:
        headers = {"X-API-Key": api_key} if api_key else {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = httpx.post(f"{base}/studies", json=spec.model_dump(mode="json"),
                              headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise InputError(f"cannot reach {url}: {exc}", field="--url") from None
    if response.status_code != 202:
        try:
            detail = response.json().get("detail")
        except json.JSONDecodeError:
            detail = response.text[:200]
        raise InputError(f"the service answered {response.status_code}: {detail}",
                         source=str(spec_path))
    study = response.json()
    replayed = response.headers.get("Idempotent-Replayed") == "true"
    typer.echo(f"study {study['id']} ({study['name']}) {study['status']}"
               + (" (submitted before with this --idempotency-key)" if replayed else ""))
    if study.get("duplicate_of") is not None:
        typer.echo(f"note: study {study['duplicate_of']} has the same spec; this is a second, "
                   "identical study (delete one, or submit with --idempotency-key to get the "
                   "first back)", err=True)
    typer.echo(f"  browse the front: {base}/ui/studies/{study['id']}")
    typer.echo(f"  status (JSON):    {base}/studies/{study['id']}")
