"""The ``epim`` command line (Typer).

Every error a user can cause prints one line to stderr and exits with status 2, no traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from epim.errors import EpimError

app = typer.Typer(
    name="epim",
    help="EPIM Search: design-space search for epitome-based PIM CNN accelerators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

P = ParamSpec("P")
R = TypeVar("R")


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an :class:`EpimError` into one line on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except EpimError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


@app.command("networks")
@user_errors
def networks_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the built-in networks with their layers, parameters and MACs."""
    from epim.workloads import get_network, list_networks

    rows: list[dict[str, Any]] = []
    for name in list_networks():
        net = get_network(name)
        rows.append({
            "name": name,
            "input": list(net.input_shape),
            "layers": len(net),
            "compute_layers": len(net.compute_layers),
            "params": net.params,
            "macs": net.macs,
        })
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'network':<14}{'input':<14}{'layers':>7}{'conv/fc':>9}{'params':>14}"
               f"{'MACs':>16}")
    for row in rows:
        shape = "x".join(str(v) for v in row["input"])
        typer.echo(f"{row['name']:<14}{shape:<14}{row['layers']:>7}{row['compute_layers']:>9}"
                   f"{row['params']:>14,}{row['macs']:>16,}")


@app.command("presets")
@user_errors
def presets_command(
    name: Annotated[str | None, typer.Argument(help="Preset to show in full.")] = None,
) -> None:
    """List the hardware presets, or print one with every constant, unit and source."""
    from epim.cost_model import list_presets, load_hardware

    if name is None:
        for preset in list_presets():
            typer.echo(f"{preset:<8} {load_hardware(preset).description}")
        return
    typer.echo(json.dumps(load_hardware(name).to_dict(), indent=2))


@app.command("cost")
@user_errors
def cost_command(
    network: Annotated[str, typer.Option("--network", help="Built-in name or network file.")],
    hardware: Annotated[str, typer.Option("--hardware", help="mnsim, isaac or a preset file.")
                        ] = "mnsim",
    xbar_size: Annotated[int | None, typer.Option(
        "--xbar-size", help="N x N crossbars (ADC/DAC counts per crossbar unchanged).")] = None,
    weight_bits: Annotated[int, typer.Option(
        "--weight-bits", help="Weight bits of every layer, sign included (9 = sign + 8).")] = 9,
    act_bits: Annotated[int, typer.Option("--act-bits", help="Activation bits of every layer.")
                        ] = 9,
    design: Annotated[Path | None, typer.Option(
        "--design", help="Design file (YAML/JSON); --weight-bits/--act-bits are its defaults.")
    ] = None,
    assignments: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a hardware parameter, KEY=VALUE (repeatable).")] = None,
    latency_mode: Annotated[str, typer.Option(
        "--latency-mode", help="layer_by_layer, pipelined or throughput.")] = "layer_by_layer",
    baseline_bits: Annotated[int | None, typer.Option(
        "--baseline-bits", help="Also cost the dense network at B bits and report reductions.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Cost one design of a network on a PIM preset: crossbars, area, latency, energy."""
    from epim.cost_model import check_latency_mode, cost_report, load_hardware, parse_assignments
    from epim.space import Design, load_design_file
    from epim.workloads import resolve_network

    mode = check_latency_mode(latency_mode)
    overrides: dict[str, Any] = parse_assignments(assignments or [])
    if xbar_size is not None:
        overrides["xbar_size"] = xbar_size
    hw = load_hardware(hardware, overrides)
    net = resolve_network(network)
    if design is not None:
        chosen = load_design_file(design, net, default_weight_bits=weight_bits,
                                  default_act_bits=act_bits)
    else:
        chosen = Design.dense(net, weight_bits, act_bits)
    if baseline_bits is not None:
        Design.dense(net, baseline_bits, baseline_bits)  # validates the range, names the field
    report = cost_report(net, chosen, hw, latency_mode=mode, baseline_bits=baseline_bits)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(format_report(report))


@app.command("export")
@user_errors
def export_command(
    network: Annotated[str, typer.Option("--network", help="Built-in name or network file.")],
    out: Annotated[Path, typer.Option("--out", help="Output model file (.pt).")],
    design: Annotated[Path | None, typer.Option(
        "--design", help="Design file (YAML/JSON); default: dense.")] = None,
    weight_bits: Annotated[int, typer.Option(
        "--weight-bits", help="Default weight bits of the design's layers.")] = 8,
    act_bits: Annotated[int, typer.Option(
        "--act-bits", help="Default activation bits of the design's layers.")] = 8,
    float_model: Annotated[bool, typer.Option(
        "--float", help="Export without fake quantization (float training).")] = False,
) -> None:
    """Write a runnable PyTorch model of a design (state, network and design) to --out.

    Load it with ``epim.nn.load(path)`` and train it fully (on a GPU when there is one).
    """
    from epim.nn import export
    from epim.space import Design, load_design_file
    from epim.workloads import resolve_network

    net = resolve_network(network)
    chosen = (load_design_file(design, net, default_weight_bits=weight_bits,
                               default_act_bits=act_bits)
              if design is not None else Design.dense(net, weight_bits, act_bits))
    if out.parent and not out.parent.exists():
        from epim.errors import InputError

        raise InputError("directory does not exist", source=str(out.parent), field="--out")
    path = export(out, net, chosen, quantize=not float_model)
    typer.echo(f"wrote {path} ({net.name}, {len(net.compute_layers)} epitome layers)")


study_app = typer.Typer(help="Run and browse multi-objective design studies.",
                        no_args_is_help=True)
app.add_typer(study_app, name="study")
DEFAULT_DATA_DIR = Path(".epim")


def default_database_url() -> str:
    """``EPIM_DATABASE_URL``, else ``epim.db`` in ``$EPIM_DATA_DIR`` (default ``./.epim``).

    The same rule as the service's ``Settings.from_environment``, so ``epim study ...`` and
    ``epim serve`` use one database (kept here to spare the CLI importing FastAPI).
    """
    import os

    url = os.environ.get("EPIM_DATABASE_URL")
    if url:
        return url
    data_dir = Path(os.environ.get("EPIM_DATA_DIR", str(DEFAULT_DATA_DIR)))
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / 'epim.db').resolve()}"


DatabaseOption = Annotated[str | None, typer.Option(
    "--database-url", help="SQLAlchemy URL (default: $EPIM_DATABASE_URL or ./.epim/epim.db).")]


def load_spec_file(path: Path) -> Any:
    """Read and validate a study spec file; errors name the field path and allowed values."""
    import yaml
    from pydantic import ValidationError

    from epim.errors import InputError
    from epim.search import StudySpec

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read spec ({exc.strerror})", source=str(path)) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML/JSON: {exc}", source=str(path)) from None
    try:
        return StudySpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise InputError(f"{location}: {first['msg']}", source=str(path)) from None


def _progress_line(progress: Any) -> str:
    eta = progress.eta_s
    eta_text = "--" if eta is None else f"{int(eta // 60)}m{int(eta % 60):02d}s"
    done = progress.completed
    width = 24
    filled = int(width * min(done, progress.n_trials) / max(progress.n_trials, 1))
    return (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{progress.n_trials} trials | "
            f"feasible {progress.feasible} | front {progress.front_size} | "
            f"HV {progress.hypervolume:.4f} | ETA {eta_text}")


def front_table(document: dict[str, Any]) -> str:
    """A Pareto document as a table: one row per trial, one column per objective."""
    metrics = [o["metric"] for o in document["objectives"]]
    lines = [f"{'trial':>6}  " + "  ".join(f"{m:>24}" for m in metrics)]
    for trial in document["trials"]:
        lines.append(f"{trial['number']:>6}  " + "  ".join(
            f"{trial['values'][m]:>24.6g}" for m in metrics))
    return "\n".join(lines)


@study_app.command("run")
@user_errors
def study_run(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="Study spec file.")],
    database_url: DatabaseOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Run (or resume) a study from a spec file, with a progress bar."""
    import os

    from epim.service import run_study

    spec = load_spec_file(spec_path)
    url = database_url or default_database_url()

    def show(progress: Any) -> None:
        if not quiet:
            typer.echo("\r" + _progress_line(progress), nl=False, err=True)

    final = run_study(spec, url, ray_address=os.environ.get("RAY_ADDRESS"), on_progress=show)
    if not quiet:
        typer.echo("", err=True)
    typer.echo(f"study {spec.name}: {final.completed} trials, {final.feasible} feasible, "
               f"front {final.front_size}, hypervolume {final.hypervolume:.4f} "
               f"({final.failed} failed evaluations) in {url}")


@study_app.command("list")
@user_errors
def study_list(database_url: DatabaseOption = None,
               as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the studies in the database."""
    from epim.search import list_studies

    rows = list_studies(database_url or default_database_url())
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'study':<32}{'network':<14}{'trials':>12}{'feasible':>10}{'front':>7}"
               f"{'HV':>9}")
    for row in rows:
        trials = f"{row['completed']}/{row['n_trials']}"
        typer.echo(f"{row['name']:<32}{row['network'] or '-':<14}{trials:>12}"
                   f"{row['feasible']:>10}{row['front_size']:>7}{row['hypervolume']:>9.4f}")


@study_app.command("show")
@user_errors
def study_show(name: Annotated[str, typer.Argument(help="Study name.")],
               database_url: DatabaseOption = None) -> None:
    """Show a study: spec summary, progress, baseline and front."""
    from epim.search import load_study, pareto_document, study_spec

    study = load_study(database_url or default_database_url(), name)
    spec = study_spec(study)
    front = pareto_document(study)
    progress = study.user_attrs.get("epim_progress", {})
    network = spec.network if isinstance(spec.network, str) else spec.network.get("name")
    typer.echo(f"study {name}: network {network}, hardware {spec.hardware.preset}, "
               f"sampler {spec.sampler.name} (seed {spec.sampler.seed})")
    typer.echo("objectives: " + ", ".join(f"{o.direction} {o.metric}" for o in spec.objectives))
    if spec.constraints:
        typer.echo("constraints: " + ", ".join(
            f"{c.metric}" + (f" >= {c.min:g}" if c.min is not None else "")
            + (f" <= {c.max:g}" if c.max is not None else "") for c in spec.constraints))
    typer.echo(f"progress: {progress.get('completed', 0)}/{spec.budget.n_trials} trials, "
               f"{progress.get('feasible', 0)} feasible, {progress.get('failed', 0)} failed, "
               f"front {len(front['trials'])}, hypervolume {front['hypervolume']:.4f}")
    typer.echo(front_table(front))


@study_app.command("pareto")
@user_errors
def study_pareto(name: Annotated[str, typer.Argument(help="Study name.")],
                 database_url: DatabaseOption = None,
                 as_json: Annotated[bool, typer.Option("--json")] = False,
                 x: Annotated[str | None, typer.Option("--x", help="Project on this objective."
                                                       )] = None,
                 y: Annotated[str | None, typer.Option("--y", help="...and this one.")] = None,
                 ) -> None:
    """Print the feasible Pareto front (``--json``: the document the API serves)."""
    from epim.search import load_study, pareto_document

    document = pareto_document(load_study(database_url or default_database_url(), name),
                               x=x, y=y)
    if as_json:
        typer.echo(json.dumps(document, indent=1))
        return
    typer.echo(front_table(document))


@study_app.command("export")
@user_errors
def study_export(name: Annotated[str, typer.Argument(help="Study name.")],
                 fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
                 database_url: DatabaseOption = None) -> None:
    """Print every trial of a study as CSV or JSON."""
    from epim.search import export_trials, load_study

    typer.echo(export_trials(load_study(database_url or default_database_url(), name), fmt),
               nl=False)


db_app = typer.Typer(help="The service database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@user_errors
def db_upgrade(database_url: DatabaseOption = None) -> None:
    """Create or migrate the service's tables (Alembic) and Optuna's (its own versioning)."""
    from epim.service import prepare_database

    url = database_url or default_database_url()
    revision = prepare_database(url)
    typer.echo(f"database at revision {revision}")


def _service_settings(database_url: str | None) -> Any:
    from dataclasses import replace

    from epim.api import get_settings
    from epim.results import require_migrated

    settings = get_settings()
    if database_url:
        settings = replace(settings, database_url=database_url)
    require_migrated(settings.database_url)
    return settings


@app.command("serve")
@user_errors
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    database_url: DatabaseOption = None,
    runners: Annotated[int, typer.Option("--runners", min=0,
                                         help="In-process study runners.")] = 1,
    no_runner: Annotated[bool, typer.Option("--no-runner", help="API only.")] = False,
) -> None:
    """Run the REST API and, unless told not to, in-process study runners."""
    import uvicorn

    from epim.api import create_app
    from epim.service import Runner

    settings = _service_settings(database_url)
    count = 0 if no_runner else runners
    pool = [Runner(database_url=settings.database_url, ray_address=settings.ray_address,
                   max_concurrent=settings.runner_concurrency,
                   heartbeat_s=settings.heartbeat_s, stale_after_s=settings.stale_after_s)
            for _ in range(count)]
    for runner in pool:
        runner.start()
    app = create_app(settings, runner=pool[0] if pool else None)
    typer.echo(f"EPIM Search on http://{host}:{port}/ (API docs /docs), database "
               f"{settings.database_url}, {count} runner(s)", err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        for runner in pool:
            runner.stop()


@app.command("runner")
@user_errors
def runner_command(database_url: DatabaseOption = None) -> None:
    """Run one study runner (no API) until interrupted: claims queued studies and runs them."""
    import signal
    import threading

    from epim.service import Runner

    settings = _service_settings(database_url)
    runner = Runner(database_url=settings.database_url, ray_address=settings.ray_address,
                    max_concurrent=settings.runner_concurrency,
                    heartbeat_s=settings.heartbeat_s, stale_after_s=settings.stale_after_s)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runner.start()
    typer.echo(f"runner {runner.owner} on {settings.database_url}", err=True)
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()


@app.command("submit")
@user_errors
def submit(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="Study spec file.")],
    url: Annotated[str, typer.Option("--url", help="The service's base URL.")
                   ] = "http://127.0.0.1:8000",
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="EPIM_API_KEY")] = None,
) -> None:
    """Submit a study spec to a running service; prints the study's URLs."""
    import urllib.error
    import urllib.request

    import yaml

    from epim.errors import InputError

    try:
        data = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read spec: {exc}", source=str(spec_path)) from None
    request = urllib.request.Request(
        url.rstrip("/") + "/studies", data=json.dumps(data).encode(), method="POST",
        headers={"Content-Type": "application/json", **({"X-API-Key": api_key}
                                                         if api_key else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            study = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("detail")
        raise InputError(f"the service answered {exc.code}: {detail}",
                         source=str(spec_path)) from None
    except urllib.error.URLError as exc:
        raise InputError(f"cannot reach {url}: {exc.reason}", field="--url") from None
    base = url.rstrip("/")
    typer.echo(f"study {study['id']} ({study['name']}) {study['status']}")
    typer.echo(f"  browse the front: {base}/ui/studies/{study['id']}")
    typer.echo(f"  status (JSON):    {base}/studies/{study['id']}")


def format_report(report: dict[str, Any]) -> str:
    """A readable table of a cost report (engineering units for people; JSON stays SI)."""
    lines = [
        f"network {report['network']} on {report['hardware']}",
        f"  crossbars        {report['crossbars']:,}",
        f"  tiles            {report['tiles']:,}",
        f"  crossbar area    {report['crossbar_area_m2'] * 1e6:,.3f} mm^2",
        f"  area             {report['area_m2'] * 1e6:,.3f} mm^2",
    ]
    for mode, value in report["latency_s_by_mode"].items():
        marker = " *" if mode == report["latency_mode"] else ""
        lines.append(f"  latency {mode:<15}{value * 1e3:,.4f} ms{marker}")
    lines.append(f"  energy           {report['energy_j'] * 1e6:,.3f} uJ")
    for component, value in report["energy_breakdown_j"].items():
        lines.append(f"    {component:<14} {value * 1e6:,.3f} uJ")
    lines.append(f"  params (stored)  {report['params']:,}")
    lines.append(f"  MACs             {report['macs']:,}")
    if "baseline" in report:
        base = report["baseline"]
        lines.append(f"  vs dense {base['weight_bits']}-bit: crossbar area "
                     f"{report['crossbar_area_reduction']:.2f}x smaller, energy "
                     f"{report['energy_reduction']:.2f}x, "
                     f"latency {report['latency_reduction']:.2f}x")
    lines.append("")
    lines.append(f"  {'layer':<28}{'type':<11}{'crossbars':>10}{'tiles':>7}{'latency ms':>13}"
                 f"{'energy uJ':>13}")
    for layer in report["layers"]:
        lines.append(f"  {layer['name']:<28}{layer['type']:<11}{layer['crossbars']:>10}"
                     f"{layer['tiles']:>7}{layer['latency_s'] * 1e3:>13.4f}"
                     f"{layer['energy_j'] * 1e6:>13.3f}")
    return "\n".join(lines)


def main() -> None:
    """Entry point of the ``epim`` script."""
    app(prog_name="epim")


if __name__ == "__main__":
    main()
