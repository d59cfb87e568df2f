"""``epim study run|resume|list|show|pareto|export|design|hardware|model``: the one store.

A study run here is a row of ``epim_studies`` like one submitted over HTTP: ``epim serve``
shows it, and the API's studies are addressable here by id (or by an unambiguous name).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypeGuard

import typer

from epim.cli._common import (
    DatabaseOption,
    FormatOption,
    OutputFormat,
    check_out_dir,
    emit,
    print_or_write,
    read_document,
    settings,
    simple_table,
    user_errors,
)

study_app = typer.Typer(help="Run and browse multi-objective design studies.",
                        no_args_is_help=True)
StudyRef = Annotated[str, typer.Argument(metavar="STUDY", help="Study id or name.")]


def load_spec_file(path: Path) -> Any:
    """Read and validate a study spec file; errors name the field path and allowed values.

    The CLI may read its own user's files: a ``network`` or ``hardware`` naming a YAML/JSON
    file (relative to the spec) is read and put inline, so the stored spec is self-contained
    and no server ever opens a path from it; a ``network`` naming an ``.onnx`` file is
    converted here and put inline as a network document.
    """
    from pydantic import ValidationError

    from epim.errors import InputError
    from epim.search import StudySpec

    data = read_document(path, "spec")
    if isinstance(data, dict):
        data = _inline_files(data, path.parent)
    try:
        return StudySpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise InputError(f"{location}: {first['msg']}", source=str(path)) from None


def _is_file_name(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value.endswith((".yaml", ".yml", ".json"))


def _inline_files(data: dict[str, Any], base: Path) -> dict[str, Any]:
    data = dict(data)
    network = data.get("network")
    if isinstance(network, str) and network.lower().endswith(".onnx"):
        from epim.workloads import load_onnx_network, network_to_dict

        data["network"] = network_to_dict(load_onnx_network(base / network))
    elif _is_file_name(network):
        data["network"] = read_document(base / data["network"], "network file")
    hardware = data.get("hardware")
    if _is_file_name(hardware):
        data["hardware"] = {"preset": read_document(base / hardware, "preset file")}
    elif isinstance(hardware, dict) and _is_file_name(hardware.get("preset")):
        data["hardware"] = {**hardware,
                            "preset": read_document(base / hardware["preset"], "preset file")}
    return data


def _progress_line(progress: Any) -> str:
    eta = progress.eta_s
    eta_text = "--" if eta is None else f"{int(eta // 60)}m{int(eta % 60):02d}s"
    done = progress.completed
    width = 24
    filled = int(width * min(done, progress.n_trials) / max(progress.n_trials, 1))
    return (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{progress.n_trials} trials | "
            f"feasible {progress.feasible} | front {progress.front_size} | "
            f"HV {progress.hypervolume:.4f} | ETA {eta_text}")


def _summary(study: Any) -> dict[str, Any]:
    """A ``StudySummary`` (``epim.service``) as one table row."""
    progress = study.progress
    return {"id": study.id, "name": study.name, "network": study.network,
            "status": study.status, "trials": f"{progress.completed}/{progress.n_trials}",
            "feasible": progress.feasible, "front": progress.front_size,
            "hypervolume": study.hypervolume, "elapsed_s": round(progress.elapsed_s, 1)}


def _json(document: Any) -> Any:
    """A service document (a pydantic model, or a list of them) as JSON data."""
    if isinstance(document, list):
        return [_json(item) for item in document]
    return document.model_dump(mode="json")


def front_rows(document: Any) -> list[dict[str, Any]]:
    """A ``ParetoDocument``'s trials: one row per trial, one column per objective."""
    metrics = [o.metric for o in document.objectives]
    return [{"trial": t.number, **{m: t.values[m] for m in metrics}} for t in document.trials]


def front_table(document: Any) -> str:
    """A ``ParetoDocument`` as a table: one row per trial, one column per objective."""
    return simple_table(front_rows(document))


@study_app.command("run")
@user_errors
def study_run(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="Study spec file.")],
    database_url: DatabaseOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Run (or resume) a study in this process, with a progress bar; Ctrl-C stops resumably."""
    from epim.service import run_study_here

    spec = load_spec_file(spec_path)
    config = settings(database_url)
    row = run_study_here(spec, config.database_url, ray_address=config.ray_address,
                         data_roots=config.data_roots,
                         checkpoints=config.checkpoints, on_progress=_progress_bar(quiet),
                         heartbeat_s=config.heartbeat_s, stale_after_s=config.stale_after_s,
                         worker_max_bytes=config.worker_max_bytes, limits=config.limits())
    _report(row, quiet)


def _progress_bar(quiet: bool) -> Any:
    def show(progress: Any) -> None:
        if not quiet:
            typer.echo("\r" + _progress_line(progress), nl=False, err=True)

    return show


def _report(row: Any, quiet: bool) -> None:
    if not quiet:
        typer.echo("", err=True)
    typer.echo(f"study {row.id} ({row.name}) {row.status}: {row.completed}/"
               f"{row.n_trials} trials, {row.feasible} feasible, front "
               f"{row.front_size}, hypervolume {row.hypervolume:.4f}, {row.failed} "
               f"failed evaluations, {row.elapsed_s:.1f} s")
    if row.status == "queued":
        typer.echo(f"stopped before the end: `epim study resume {row.id}` (or the same "
                   "`epim study run`) goes on")
    elif row.status == "failed" and row.error:
        typer.echo(f"error: {row.error}")


@study_app.command("resume")
@user_errors
def study_resume(
    study: StudyRef, database_url: DatabaseOption = None,
    queue: Annotated[bool, typer.Option(
        "--queue", help="Only put it back in the queue (a service's runners run it).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Run a failed, cancelled or stopped study on from its stored trials (here, or --queue)."""
    from epim import results
    from epim.errors import InputError
    from epim.service import find_study, run_queued_here

    config = settings(database_url)
    url = config.database_url
    results.ensure_schema(url)
    row = results.resume_study(url, find_study(url, study).id)
    if row is None or row.status != "queued":
        state = "deleted" if row is None else row.status
        raise InputError(f"study {study} is {state}", field="STUDY",
                         expected="a failed, cancelled or queued study")
    if queue:
        typer.echo(f"study {row.id} ({row.name}) queued: a runner of the service takes it up")
        return
    run_queued_here(row.id, url, ray_address=config.ray_address, data_roots=config.data_roots,
                    checkpoints=config.checkpoints,
                    on_progress=_progress_bar(quiet), heartbeat_s=config.heartbeat_s,
                    stale_after_s=config.stale_after_s,
                    worker_max_bytes=config.worker_max_bytes, limits=config.limits())
    final = results.get_study(url, row.id)
    if final is None:
        raise InputError(f"study {row.id} was deleted while it ran", field="STUDY")
    _report(final, quiet)


@study_app.command("list")
@user_errors
def study_list(database_url: DatabaseOption = None,
               status: Annotated[str | None, typer.Option(
                   "--status", help="queued, running, completed, failed or cancelled.")] = None,
               fmt: FormatOption = OutputFormat.table) -> None:
    """List the studies in the database, newest first."""
    from epim import results
    from epim.errors import InputError
    from epim.service import study_summary

    if status is not None and status not in results.STUDY_STATUSES:
        raise InputError(f"unknown status '{status}'", field="--status",
                         expected="one of " + ", ".join(results.STUDY_STATUSES))
    url = settings(database_url).database_url
    results.ensure_schema(url)
    studies = [study_summary(r) for r in results.list_studies(url, status=status,
                                                               limit=1000).items]
    emit([_summary(s) for s in studies], fmt, document=_json(studies))


@study_app.command("show")
@user_errors
def study_show(study: StudyRef, database_url: DatabaseOption = None,
               fmt: FormatOption = OutputFormat.table) -> None:
    """Show a study: spec summary, progress, baseline and front.

    ``--format json``: the study as ``GET /studies/{id}`` gives it, with its front as
    ``GET /studies/{id}/pareto`` gives it under ``pareto``.
    """
    from epim.service import find_study, pareto_document, stored_spec, study_public

    url = settings(database_url).database_url
    row = find_study(url, study)
    document = pareto_document(url, row)
    public = study_public(row)
    if fmt is not OutputFormat.table:
        emit([{**_summary(public), "best": public.best}], fmt,
             document={**_json(public), "pareto": _json(document)})
        return
    spec = stored_spec(row)
    typer.echo(f"study {row.id} ({row.name}): {row.status}; network {row.network}, hardware "
               f"{spec.hardware.preset_name}, sampler {spec.sampler.name} "
               f"(seed {spec.sampler.seed})")
    typer.echo("objectives: " + ", ".join(f"{o.direction} {o.metric}" for o in spec.objectives))
    if spec.constraints:
        typer.echo("constraints: " + ", ".join(
            f"{c.metric}" + (f" >= {c.min:g}" if c.min is not None else "")
            + (f" <= {c.max:g}" if c.max is not None else "") for c in spec.constraints))
    typer.echo(f"progress: {row.completed}/{row.n_trials} trials, "
               f"{row.feasible} feasible, {row.failed} failed, front "
               f"{row.front_size}, hypervolume {row.hypervolume:.4f}, {row.elapsed_s:.1f} s")
    if row.error:
        typer.echo(f"error: {row.error}")
    typer.echo(front_table(document))


@study_app.command("pareto")
@user_errors
def study_pareto(study: StudyRef, database_url: DatabaseOption = None,
                 axes: Annotated[str | None, typer.Option(
                     "--axes", metavar="X[,Y]",
                     help="Project on one or two objectives (default: all).")] = None,
                 fmt: FormatOption = OutputFormat.table) -> None:
    """Print the feasible Pareto front (``--format json``: the document the API serves)."""
    from epim.service import find_study, pareto_document

    url = settings(database_url).database_url
    x, y = _axes(axes)
    document = pareto_document(url, find_study(url, study), x, y)
    if fmt is OutputFormat.table:
        typer.echo(front_table(document))
        return
    emit(front_rows(document), fmt, document=_json(document))


def _axes(text: str | None) -> tuple[str | None, str | None]:
    from epim.errors import InputError

    if text is None:
        return None, None
    parts: Sequence[str] = [p.strip() for p in text.split(",") if p.strip()]
    if not 1 <= len(parts) <= 2:
        raise InputError(f"bad value {text!r}", field="--axes",
                         expected="one or two objective metrics, comma-separated")
    return parts[0], parts[1] if len(parts) == 2 else None


OutOption = Annotated[Path | None, typer.Option(
    "--out", "-o", metavar="PATH", help="Write to this file (default, or -: standard output).")]


@study_app.command("export")
@user_errors
def study_export(study: StudyRef, database_url: DatabaseOption = None,
                 fmt: FormatOption = OutputFormat.csv, out: OutOption = None) -> None:
    """Every trial of a study (CSV by default, or JSON, or a table), printed or to --out.

    CSV and JSON are in SI units (m^2, s, J), the table in mm^2, ms and uJ. Both are the
    API's (``GET /studies/{id}/export``): the CSV has a column per metric, layer field and
    hardware gene; the JSON is the study with every trial (``epim.service.StudyExport``).
    """
    from epim import results
    from epim.service import export_document, find_study, trials_csv

    if out is not None:
        check_out_dir(out)
    url = settings(database_url).database_url
    row = find_study(url, study)
    if fmt is OutputFormat.csv:
        trials = results.list_trials(url, row.id, limit=2**31 - 1).items
        print_or_write(trials_csv(trials), out, f" ({len(trials)} trials)")
        return
    document = export_document(url, row)
    if fmt is OutputFormat.json:
        print_or_write(document.model_dump_json(indent=1) + "\n", out,
                       f" ({len(document.trials)} trials)")
        return
    print_or_write(simple_table([{"number": t.number, "state": t.state,
                                  "feasible": t.feasible, "on_front": t.on_front, **t.values,
                                  "error": t.error} for t in document.trials]) + "\n", out)


TrialRef = Annotated[int, typer.Argument(metavar="TRIAL", min=0, max=2**31 - 1,
                                         help="Trial number.")]


def _stored_trial(url: str, study: str, number: int) -> tuple[Any, Any]:
    from epim import results
    from epim.errors import InputError
    from epim.service import find_study

    row = find_study(url, study)
    trial = results.get_trial(url, row.id, number)
    if trial is None:
        raise InputError(f"no trial {number} in study {row.id}", field="TRIAL",
                         expected=f"0..{max(row.completed - 1, 0)}")
    return row, trial


@study_app.command("design")
@user_errors
def study_design(study: StudyRef, number: TrialRef, database_url: DatabaseOption = None,
                 fmt: Annotated[str, typer.Option(
                     "--format", "-f", help="yaml or json (both are design files).")
                 ] = "yaml",
                 out: Annotated[Path | None, typer.Option(
                     "--out", help="Write the design file here (default: print it).")
                 ] = None) -> None:
    """Print a trial's design file (for ``epim cost --design`` and ``epim export --design``)."""
    from epim.errors import InputError
    from epim.service import design_text

    if fmt not in ("yaml", "json"):
        raise InputError(f"bad value {fmt!r}", field="--format", expected="yaml or json")
    _, trial = _stored_trial(settings(database_url).database_url, study, number)
    print_or_write(design_text(trial.design, fmt), out)


@study_app.command("model")
@user_errors
def study_model(study: StudyRef, number: TrialRef,
                out: Annotated[Path, typer.Option("--out", help="Output model file (.pt).")],
                database_url: DatabaseOption = None) -> None:
    """Write a trainable PyTorch model of a trial's design (``epim.nn.load`` reads it)."""
    from epim.service import trial_model

    check_out_dir(out)
    row, trial = _stored_trial(settings(database_url).database_url, study, number)
    out.write_bytes(trial_model(row, trial))
    typer.echo(f"wrote {out} (study {row.id}, trial {trial.number}, {row.network})")


@study_app.command("hardware")
@user_errors
def study_hardware(study: StudyRef, number: TrialRef, database_url: DatabaseOption = None,
                   fmt: Annotated[str, typer.Option(
                       "--format", "-f", help="yaml or json (both are preset files).")
                   ] = "yaml",
                   out: OutOption = None) -> None:
    """Print a trial's hardware as a preset file (for ``epim cost --hardware``).

    The study's preset with its ``hardware.set`` and the trial's hardware genes (crossbar
    size, ADC, cells, ...) applied: ``epim cost --hardware hw.yaml --design design.yaml``
    (the design from ``epim study design``) costs the trial as the study did.
    """
    from epim.errors import InputError
    from epim.service import hardware_document, hardware_text, trial_hardware

    if fmt not in ("yaml", "json"):
        raise InputError(f"bad value {fmt!r}", field="--format", expected="yaml or json")
    if out is not None:
        check_out_dir(out)
    row, trial = _stored_trial(settings(database_url).database_url, study, number)
    hardware = trial_hardware(row, trial)
    document = hardware_document(hardware, note=f"(study {row.id} trial {trial.number})")
    print_or_write(hardware_text(document, fmt), out, f" ({hardware.name})")
