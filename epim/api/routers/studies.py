"""``/studies``: submit, browse, cancel, delete; trials, Pareto fronts, charts, exports."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Body,
    Depends,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from epim import results
from epim.api._deps import ReadAccess, SettingsDep, WriteAccess
from epim.api._fragments import (
    DOCUMENTS,
    front,
    front_items,
    join_list,
    study_key,
    trial_items,
)
from epim.api._schemas import STUDY_EXAMPLE, StudiesPage, StudyCreate, StudyCreated, TrialsPage
from epim.api._views import chart_axes, pareto_figure
from epim.errors import InputError
from epim.search import Metric
from epim.service import (
    HistoryPoint,
    IdempotencyKeyError,
    ParetoDocument,
    Profile,
    QueueFullError,
    References,
    StudyPublic,
    TrialDetail,
    choose_axes,
    design_text,
    export_document,
    hardware_document,
    hardware_text,
    history_document,
    pareto_front,
    profile_document,
    reference_designs,
    study_public,
    study_summary,
    submit,
    trial_detail,
    trial_hardware,
    trial_model,
    trials_csv,
)
from epim.settings import Settings

router = APIRouter(prefix="/studies", tags=["studies"])
#: Ids, trial numbers and offsets fit the databases' 32-bit integer columns.
MAX_ID = 2**31 - 1
StudyId = Annotated[int, Path(ge=1, le=MAX_ID, description="Study id.")]
TrialNumber = Annotated[int, Path(ge=0, le=MAX_ID, description="Trial number.")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]


def _found_study(settings: SettingsDep, study_id: StudyId) -> results.StudyRow:
    """The study of the path, or 404."""
    row = results.get_study(settings.database_url, study_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {study_id}")
    return row


def _counted_study(settings: SettingsDep, study_id: StudyId) -> tuple[results.StudyRow, int]:
    """The study of the path and its count of stored trials (one query), or 404."""
    found = results.get_study_counted(settings.database_url, study_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {study_id}")
    return found


def _found_trial(settings: SettingsDep, study_id: StudyId, number: TrialNumber
                 ) -> tuple[results.StudyRow, results.TrialRow]:
    """The study and the trial of the path, or 404 (both numbers are checked first: 422)."""
    study = _found_study(settings, study_id)
    trial = results.get_trial(settings.database_url, study.id, number)
    if trial is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no trial {number} in study {study.id}")
    return study, trial


#: The study of the path (``/studies/{study_id}/...``); a study that does not exist: 404.
FoundStudy = Annotated[results.StudyRow, Depends(_found_study)]
#: The study of the path and how many trials it has stored; 404 if it does not exist.
CountedStudy = Annotated[tuple[results.StudyRow, int], Depends(_counted_study)]
#: The study and the trial of the path (``.../trials/{number}``); 404 if either is missing.
FoundTrial = Annotated[tuple[results.StudyRow, results.TrialRow], Depends(_found_trial)]


def _json(document: BaseModel) -> Response:
    """A document built (and validated) here, serialized once.

    For the hot read paths: FastAPI would validate a returned model against its
    ``response_model`` a second time.
    """
    return Response(document.model_dump_json(), media_type="application/json")


def _unprocessable(loc: list[Any], message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"loc": loc, "msg": message, "type": "value_error"}])


def _limit(settings: Settings, limit: int) -> int:
    if limit > settings.max_page:
        raise _unprocessable(["query", "limit"],
                             f"at most {settings.max_page} rows per page on this server")
    return limit


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=StudyCreated,
             dependencies=[WriteAccess],
             summary="Submit a study (queued; a runner picks it up)")
def create_study(settings: SettingsDep, response: Response,
                 spec: Annotated[StudyCreate, Body(examples=[STUDY_EXAMPLE])],
                 idempotency_key: Annotated[str | None, Header(
                     alias="Idempotency-Key", min_length=1, max_length=255,
                     description="Repeating a request with the same key and spec returns "
                     "the study it created (Idempotent-Replayed: true).")] = None
                 ) -> StudyCreated:
    """Validate the spec completely, store it as ``queued``, return it with ``Location``.

    Network, hardware, space and dataset are resolved now: a spec that would fail later gets
    422 here, with the field path. ``duplicate_of`` names an older study of the same spec.
    """
    try:
        done = submit(settings.database_url, spec, limits=settings.limits(),
                      data_roots=settings.data_roots, checkpoints=settings.checkpoints,
                      max_queued=settings.max_queued, idempotency_key=idempotency_key)
    except IdempotencyKeyError as exc:
        raise _unprocessable(["header", "Idempotency-Key"], exc.message) from None
    except QueueFullError as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, exc.message) from None
    response.headers["Location"] = f"/studies/{done.row.id}"
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return StudyCreated(**dict(study_public(done.row)), duplicate_of=done.duplicate_of)


@router.get("", response_model=StudiesPage, dependencies=[ReadAccess],
            summary="List studies (summaries, newest first)")
def list_studies(settings: SettingsDep,
                 status_filter: Annotated[results.StudyStatus | None,
                                          Query(alias="status")] = None,
                 name: Annotated[str | None, Query(max_length=200)] = None,
                 offset: Offset = 0,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> Response:
    """Study summaries, newest first, optionally of one status or name."""
    page = results.list_studies(settings.database_url, status=status_filter, name=name,
                                offset=offset, limit=_limit(settings, limit))
    return _json(StudiesPage(items=[study_summary(r) for r in page.items], total=page.total,
                             offset=offset, limit=limit))


@router.get("/{study_id}", response_model=StudyPublic, dependencies=[ReadAccess],
            summary="A study's spec, status, progress, baseline and best trials",
            responses={200: {"content": {"text/html": {}}}})
def get_study(row: FoundStudy, request: Request) -> Any:
    """The study; a browser (``Accept: text/html``) is sent to its page under ``/ui/``."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(f"/ui/studies/{row.id}", status.HTTP_303_SEE_OTHER)
    return study_public(row)


@router.post("/{study_id}/cancel", response_model=StudyPublic, dependencies=[WriteAccess],
             summary="Cancel a study")
def cancel_study(settings: SettingsDep, study_id: StudyId) -> StudyPublic:
    """Cancel: a queued study at once, a running one within about a second.

    The runner kills the proxy training it is in; the study is never claimed again.
    """
    row = results.request_cancel(settings.database_url, study_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {study_id}")
    return study_public(row)


@router.post("/{study_id}/resume", response_model=StudyPublic, dependencies=[WriteAccess],
             summary="Run a failed or cancelled study on from its stored trials",
             responses={409: {"description": "The study is running or completed."}})
def resume_study(settings: SettingsDep, current: FoundStudy) -> StudyPublic:
    """Put a ``failed`` or ``cancelled`` study back in the queue to run on from its trials.

    Its error and its count of claims are cleared; a runner resumes it from its stored trials.
    A queued study is returned as it is.
    """
    if current.status in results.RESUMABLE and results.count_studies(
            settings.database_url, "queued") >= settings.max_queued:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"{settings.max_queued} studies are already queued; try later")
    row = results.resume_study(settings.database_url, current.id)
    if row is None:  # deleted a moment ago
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {current.id}")
    if row.status != "queued":
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"the study is {row.status}: only failed or cancelled studies "
                            "are resumed")
    return study_public(row)


#: How long ``DELETE`` waits for the runner of a study being cancelled to stop it (s).
DELETE_WAIT_S = 5.0


@router.delete("/{study_id}", status_code=status.HTTP_204_NO_CONTENT,
               dependencies=[WriteAccess], summary="Delete a study that is not running",
               responses={409: {"description": "The study is running: cancel it first, or "
                                "its cancellation is still under way (Retry-After)."}})
def delete_study(settings: SettingsDep, study_id: StudyId) -> Response:
    """Delete the study and its trials.

    A running study must be cancelled first (409). Once its cancellation was requested,
    ``DELETE`` waits up to 5 s for the runner to stop it and then deletes it; a study whose
    runner is gone (no heartbeat for ``EPIM_STALE_AFTER_S``) is deleted at once. If the
    runner is still stopping it, 409 with ``Retry-After``.
    """
    url = settings.database_url
    deadline = time.monotonic() + DELETE_WAIT_S
    while True:
        row = results.delete_study(url, study_id, stale_after_s=settings.stale_after_s)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {study_id}")
        if row.status != "running":
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        if not row.cancel_requested:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                "the study is running: cancel it first")
        if time.monotonic() >= deadline:
            raise HTTPException(status.HTTP_409_CONFLICT, "the study's cancellation is under "
                                "way: delete it again in a few seconds",
                                headers={"Retry-After": "2"})
        time.sleep(0.2)


#: Most bytes of trials one page of ``/trials`` carries; a page that would hold more ends
#: early (at least one trial), and its ``Link: <...>; rel="next"`` header goes on from there.
MAX_PAGE_BYTES = 4 * 2**20


@router.get("/{study_id}/trials", response_model=TrialsPage, dependencies=[ReadAccess],
            summary="Trials, paged, sortable by any metric",
            responses={200: {"headers": {"Link": {
                "description": 'The next page: `</studies/1/trials?offset=50&...>; '
                               'rel="next"` (absent on the last page).',
                "schema": {"type": "string"}}}}})
def list_trials(settings: SettingsDep, counted: CountedStudy, request: Request,
                offset: Offset = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                sort: Annotated[Metric | None, Query(description="Metric to sort by.")] = None,
                order: Annotated[Literal["asc", "desc"], Query()] = "asc",
                feasible: Annotated[bool | None, Query()] = None) -> Response:
    """Trials of the study (by number, or sorted by ``sort``), optionally only feasible.

    A page holds at most ``limit`` trials and about 4 MiB: a page of large trials may hold
    fewer. Page on from ``offset`` + the items given (``total`` counts them all); the
    ``Link`` header names the next page.
    """
    url = settings.database_url
    row, count = counted
    page = results.trial_page_numbers(url, row, offset=offset, limit=_limit(settings, limit),
                                      sort=sort, descending=order == "desc",
                                      feasible=feasible,
                                      total=count if feasible is None else None)
    items = trial_items(url, row, page.items, set(front(url, row, count)), MAX_PAGE_BYTES)
    document = TrialsPage(items=[], total=page.total, offset=offset, limit=limit)
    body = join_list(document.model_dump_json().encode(), b"items", items)
    headers = {}
    if offset + len(items) < page.total:
        following = request.url.include_query_params(offset=offset + len(items))
        headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return Response(body, media_type="application/json", headers=headers)


@router.get("/{study_id}/trials/{number}", response_model=TrialDetail,
            dependencies=[ReadAccess], summary="One trial with its per-layer breakdown")
def get_trial(found: FoundTrial) -> TrialDetail:
    """The trial's design, metrics and per-layer costs (and stored vs dense shapes)."""
    return trial_detail(*found)


@router.get("/{study_id}/trials/{number}/design", dependencies=[ReadAccess],
            summary="The trial's design file (for epim cost --design and epim export)",
            response_class=Response,
            responses={200: {"content": {"application/yaml": {}, "application/json": {}}}})
def trial_design_file(found: FoundTrial,
                      format: Annotated[Literal["yaml", "json"], Query()] = "yaml") -> Response:
    """The design in the design file format, named by network and layer."""
    row, trial = found
    media = "application/json" if format == "json" else "application/yaml"
    name = f"study-{row.id}-trial-{trial.number}.{format}"
    return Response(design_text(trial.design, format), media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/{study_id}/trials/{number}/hardware", dependencies=[ReadAccess],
            summary="The trial's hardware as a preset file (for epim cost --hardware)",
            response_class=Response,
            responses={200: {"content": {"application/yaml": {}, "application/json": {}}}})
def trial_hardware_file(found: FoundTrial,
                        format: Annotated[Literal["yaml", "json"], Query()] = "yaml"
                        ) -> Response:
    """The study's preset with the trial's hardware genes applied (``epim study hardware``)."""
    row, trial = found
    document = hardware_document(trial_hardware(row, trial),
                                 note=f"(study {row.id} trial {trial.number})")
    media = "application/json" if format == "json" else "application/yaml"
    name = f"study-{row.id}-trial-{trial.number}-hardware.{format}"
    return Response(hardware_text(document, format), media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/{study_id}/trials/{number}/model", dependencies=[ReadAccess],
            summary="A trainable PyTorch model of the trial's design (the epim export file)",
            response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def trial_model_file(found: FoundTrial) -> Response:
    """The ``epim export`` file of the design, freshly initialized; load with ``epim.nn.load``.

    It holds the study's full network, the design and the quantization setting, as tensors
    and plain data (``torch.load(..., weights_only=True)`` reads it).
    """
    row, trial = found
    name = f"study-{row.id}-trial-{trial.number}.pt"
    return Response(trial_model(row, trial), media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/{study_id}/references", response_model=References, dependencies=[ReadAccess],
            summary="The dense baseline and the uniform hand designs, for reference")
def references(settings: SettingsDep, row: FoundStudy) -> References:
    """Designs to read the front against: dense, and every layer at one rank and bit-width."""
    return reference_designs(settings.database_url, row)


@router.get("/{study_id}/history", response_model=list[HistoryPoint],
            dependencies=[ReadAccess], summary="Hypervolume and counters after each batch")
def history(settings: SettingsDep, row: FoundStudy) -> list[HistoryPoint]:
    """The study's progress after each stored batch, oldest first."""
    return history_document(settings.database_url, row)


@router.get("/{study_id}/profile", response_model=Profile, dependencies=[ReadAccess],
            summary="The layer sensitivity profile (layerwise studies)")
def profile(settings: SettingsDep, row: FoundStudy) -> Profile:
    """Every probe of the study's profile: each layer's choices alone on the dense proxy."""
    document = profile_document(settings.database_url, row.id)
    if document is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"study {row.id} has no profile (only layerwise studies profile)")
    return document


def _axes(row: results.StudyRow, x: str | None, y: str | None) -> list[dict[str, str]]:
    try:
        return choose_axes(row.spec, x, y)
    except InputError as exc:
        raise _unprocessable(["query", exc.field or "x"], str(exc)) from None


@router.get("/{study_id}/pareto", response_model=ParetoDocument, dependencies=[ReadAccess],
            summary="The feasible Pareto front (optionally on two of the objectives)")
def pareto(settings: SettingsDep, counted: CountedStudy,
           x: Annotated[Metric | None, Query(description="Project onto this objective...")
                        ] = None,
           y: Annotated[Metric | None, Query(description="...and this one.")] = None,
           ) -> Response:
    """Feasible, non-dominated trials (the document of ``epim study pareto``).

    ``?x=&y=`` projects onto two objectives; the hypervolume is then the projected front's.
    """
    url = settings.database_url
    row, count = counted
    axes = _axes(row, x, y)
    # A batch adds trials, rewrites the front and the hypervolume in one transaction.
    key = (*study_key(url, row), count, row.hypervolume, x, y)
    kept = DOCUMENTS.get(key)
    if kept is None:
        if x is None and y is None:  # the stored front, as the trials' on_front has it
            hypervolume, numbers = row.hypervolume, front(url, row, count)
        else:
            axes, hypervolume, numbers = pareto_front(url, row, x, y)
        document = ParetoDocument.model_validate({"objectives": axes,
                                                  "hypervolume": hypervolume, "trials": []})
        kept = (join_list(document.model_dump_json().encode(), b"trials",
                          front_items(url, row, numbers)),)
        DOCUMENTS.put(key, kept)
    return Response(kept[0], media_type="application/json")


@router.get("/{study_id}/pareto.svg", dependencies=[ReadAccess],
            summary="The study's chart (trials, front, references) as SVG",
            response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
def pareto_chart(settings: SettingsDep, row: FoundStudy,
                 x: Annotated[Metric | None, Query()] = None,
                 y: Annotated[Metric | None, Query()] = None) -> Response:
    """Every completed trial, the front on the chosen axes, the references; units, grid."""
    figure = pareto_figure(settings.database_url, row, chart_axes(row.spec, x, y))
    return Response(figure.svg(), media_type="image/svg+xml")


@router.get("/{study_id}/pareto.pdf", dependencies=[ReadAccess],
            summary="The study's chart (trials, front, references) as PDF",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def pareto_chart_pdf(settings: SettingsDep, row: FoundStudy,
                     x: Annotated[Metric | None, Query()] = None,
                     y: Annotated[Metric | None, Query()] = None) -> Response:
    """The chart of ``pareto.svg`` as a one-page PDF."""
    figure = pareto_figure(settings.database_url, row, chart_axes(row.spec, x, y))
    return Response(figure.pdf(), media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="study-{row.id}-pareto.pdf"'})


@router.get("/{study_id}/export", dependencies=[ReadAccess], summary="All trials as CSV or JSON",
            response_class=Response,
            responses={200: {"content": {"text/csv": {}, "application/json": {}}}})
def export(settings: SettingsDep, row: FoundStudy,
           format: Annotated[Literal["csv", "json"], Query()] = "csv") -> Response:
    """Every trial with its metrics, feasibility and design."""
    if format == "json":
        return _json(export_document(settings.database_url, row))
    trials = results.list_trials(settings.database_url, row.id, limit=MAX_ID).items
    return Response(trials_csv(trials), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="study-{row.id}.csv"'})
