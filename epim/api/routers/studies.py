"""``/studies``: submit, browse, cancel, delete; trials, Pareto fronts, charts, exports."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from epim import results
from epim.api._deps import ReadAccess, SettingsDep, WriteAccess
from epim.api._schemas import (
    STUDY_EXAMPLE,
    LayerCost,
    ParetoDocument,
    StudiesPage,
    StudyCreate,
    StudyPublic,
    TrialDetail,
    TrialsPage,
)
from epim.api._views import objectives, pareto_svg, project_front, study_public, trial_public
from epim.search import METRICS

router = APIRouter(prefix="/studies", tags=["studies"])
StudyId = Annotated[int, Path(ge=1, description="Study id.")]
MetricName = Literal[
    "accuracy", "accuracy_drop", "crossbars", "crossbar_area_m2", "area_m2", "latency_s",
    "energy_j", "edp", "params", "crossbar_area_reduction", "energy_reduction",
    "latency_reduction"]
assert set(MetricName.__args__) == set(METRICS)  # type: ignore[attr-defined]


def _study(settings: Any, study_id: int) -> results.StudyRow:
    row = results.get_study(settings.database_url, study_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {study_id}")
    return row


def _unprocessable(loc: list[Any], message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"loc": loc, "msg": message, "type": "value_error"}])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=StudyPublic,
             dependencies=[WriteAccess],
             summary="Submit a study (queued; a runner picks it up)")
def create_study(settings: SettingsDep, response: Response,
                 spec: Annotated[StudyCreate, Body(examples=[STUDY_EXAMPLE])]) -> StudyPublic:
    """Validate the spec, store it as ``queued`` and return it with a ``Location`` header."""
    if spec.budget.n_trials > settings.max_trials:
        raise _unprocessable(["body", "budget", "n_trials"],
                             f"at most {settings.max_trials} trials per study on this server")
    if results.count_studies(settings.database_url, "queued") >= settings.max_queued:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"{settings.max_queued} studies are already queued; try later")
    row = results.create_study(settings.database_url, name=spec.name,
                               spec=spec.model_dump(mode="json"),
                               n_trials=spec.budget.n_trials)
    response.headers["Location"] = f"/studies/{row.id}"
    return study_public(row)


@router.get("", response_model=StudiesPage, dependencies=[ReadAccess], summary="List studies")
def list_studies(settings: SettingsDep,
                 status_filter: Annotated[Literal["queued", "running", "completed", "failed",
                                                  "cancelled"] | None,
                                          Query(alias="status")] = None,
                 offset: Annotated[int, Query(ge=0)] = 0,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> StudiesPage:
    """Studies, newest first, optionally filtered by status."""
    page = results.list_studies(settings.database_url, status=status_filter, offset=offset,
                                limit=limit)
    return StudiesPage(items=[study_public(r) for r in page.items], total=page.total,
                       offset=offset, limit=limit)


@router.get("/{study_id}", response_model=StudyPublic, dependencies=[ReadAccess],
            summary="A study's status, progress and best trials",
            responses={200: {"content": {"text/html": {}}}})
def get_study(settings: SettingsDep, study_id: StudyId, request: Request) -> Any:
    """The study; a browser (``Accept: text/html``) is sent to its page under ``/ui/``."""
    row = _study(settings, study_id)
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(f"/ui/studies/{study_id}", status.HTTP_303_SEE_OTHER)
    return study_public(row, results.front_trials(settings.database_url, study_id))


@router.post("/{study_id}/cancel", response_model=StudyPublic, dependencies=[WriteAccess],
             summary="Cancel a study")
def cancel_study(settings: SettingsDep, study_id: StudyId) -> StudyPublic:
    """A queued study is cancelled at once; a running one stops after its current batch."""
    row = results.request_cancel(settings.database_url, study_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {study_id}")
    return study_public(row)


@router.delete("/{study_id}", status_code=status.HTTP_204_NO_CONTENT,
               dependencies=[WriteAccess], summary="Delete a study that is not running")
def delete_study(settings: SettingsDep, study_id: StudyId) -> Response:
    """Delete the study, its trials and its Optuna study; running studies: cancel first."""
    from epim.service import delete_optuna_study

    row = results.delete_study(settings.database_url, study_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {study_id}")
    if row.status == "running":
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "the study is running: cancel it first")
    delete_optuna_study(settings.database_url, row.optuna_name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{study_id}/trials", response_model=TrialsPage, dependencies=[ReadAccess],
            summary="Trials, paged, sortable by any metric")
def list_trials(settings: SettingsDep, study_id: StudyId,
                offset: Annotated[int, Query(ge=0)] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                sort: Annotated[MetricName | None, Query(description="Metric to sort by.")
                                ] = None,
                order: Annotated[Literal["asc", "desc"], Query()] = "asc",
                feasible: Annotated[bool | None, Query()] = None) -> TrialsPage:
    """Trials of the study (by number, or sorted by ``sort``), optionally only feasible."""
    _study(settings, study_id)
    page = results.list_trials(settings.database_url, study_id, offset=offset, limit=limit,
                               sort=sort, descending=order == "desc", feasible=feasible)
    return TrialsPage(items=[trial_public(t) for t in page.items], total=page.total,
                      offset=offset, limit=limit)


@router.get("/{study_id}/trials/{number}", response_model=TrialDetail,
            dependencies=[ReadAccess], summary="One trial with its per-layer breakdown")
def get_trial(settings: SettingsDep, study_id: StudyId,
              number: Annotated[int, Path(ge=0)]) -> TrialDetail:
    """The trial's design, metrics and per-layer crossbars, tiles, latency and energy."""
    row = _study(settings, study_id)
    trial = results.get_trial(settings.database_url, study_id, number)
    if trial is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no trial {number} in study {study_id}")
    from epim.search import StudySpec, resolve_network

    network = resolve_network(StudySpec.model_validate(row.spec, strict=False))
    breakdown = trial.layers or {}
    layers = [LayerCost(name=layer.name, type=layer.kind,
                        crossbars=int(breakdown["crossbars"][i]),
                        tiles=int(breakdown["tiles"][i]),
                        latency_s=float(breakdown["latency_s"][i]),
                        energy_j=float(breakdown["energy_j"][i]))
              for i, layer in enumerate(network.layers)] if breakdown else []
    return TrialDetail(**trial_public(trial).model_dump(), layers=layers)


def _axes(row: results.StudyRow, x: str | None, y: str | None) -> list[dict[str, str]]:
    axes = objectives(row.spec)
    if x is None and y is None:
        return axes
    names = [a["metric"] for a in axes]
    chosen = []
    for label, metric in (("x", x), ("y", y)):
        if metric not in names:
            raise _unprocessable(["query", label],
                                 f"{metric!r} is not an objective of this study; allowed: "
                                 + ", ".join(names))
        chosen.append(next(a for a in axes if a["metric"] == metric))
    return chosen


@router.get("/{study_id}/pareto", response_model=ParetoDocument, dependencies=[ReadAccess],
            summary="The feasible Pareto front")
def pareto(settings: SettingsDep, study_id: StudyId,
           x: Annotated[str | None, Query(description="Project onto this objective...")] = None,
           y: Annotated[str | None, Query(description="...and this one.")] = None,
           ) -> ParetoDocument:
    """Only feasible, non-dominated trials; ``?x=&y=`` projects onto two objectives."""
    row = _study(settings, study_id)
    axes = _axes(row, x, y)
    front = results.front_trials(settings.database_url, study_id)
    if x is not None:
        feasible = results.list_trials(settings.database_url, study_id, feasible=True,
                                       limit=10**9).items
        numbers = set(project_front([(t.number, t.metrics) for t in feasible], axes))
        front = [t for t in feasible if t.number in numbers]
    return ParetoDocument.model_validate({
        "objectives": axes, "hypervolume": row.hypervolume,
        "trials": [{"number": t.number, "values": t.metrics, "design": t.design}
                   for t in sorted(front, key=lambda t: t.number)]})


@router.get("/{study_id}/pareto.svg", dependencies=[ReadAccess],
            summary="A chart of the front (feasible and infeasible trials distinguished)",
            response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
def pareto_chart(settings: SettingsDep, study_id: StudyId,
                 x: Annotated[str | None, Query()] = None,
                 y: Annotated[str | None, Query()] = None) -> Response:
    """SVG scatter of every completed trial; the front on the chosen axes in red."""
    row = _study(settings, study_id)
    axes = objectives(row.spec)
    if x is not None or y is not None:
        axes = _axes(row, x or axes[0]["metric"], y or axes[-1]["metric"])
    if len(axes) == 1:
        axes = [axes[0], axes[0]]
    points = results.all_trial_points(settings.database_url, study_id)
    front = project_front([(n, m) for n, f, m in points if f], axes[:2])
    svg = pareto_svg(points, front, axes[0], axes[1], f"study {row.id}: {row.name}")
    return Response(svg, media_type="image/svg+xml")


@router.get("/{study_id}/export", dependencies=[ReadAccess], summary="All trials as CSV or JSON",
            response_class=Response,
            responses={200: {"content": {"text/csv": {}, "application/json": {}}}})
def export(settings: SettingsDep, study_id: StudyId,
           format: Annotated[Literal["csv", "json"], Query()] = "csv") -> Response:
    """Every trial with its metrics, feasibility and design."""
    row = _study(settings, study_id)
    trials = results.list_trials(settings.database_url, study_id, limit=10**9).items
    if format == "json":
        body = json.dumps({"study": study_public(row).model_dump(mode="json"),
                           "trials": [trial_public(t).model_dump() for t in trials]})
        return Response(body, media_type="application/json")
    metrics = sorted({k for t in trials for k in t.metrics})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "state", "feasible", "on_front", *metrics, "error", "design"])
    for t in trials:
        writer.writerow([t.number, t.state, t.feasible, t.on_front,
                         *[t.metrics.get(m, "") for m in metrics], t.error or "",
                         json.dumps(t.design, separators=(",", ":"))])
    return Response(out.getvalue(), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="study-{study_id}.csv"'})

