"""``/healthz``: database reachable, runner alive."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from epim import results
from epim.api._deps import SettingsDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Database reachable and migrated; runner alive")
def healthz(settings: SettingsDep, request: Request, response: Response) -> dict[str, Any]:
    """200 when the database answers at the expected schema (and the runner, if any, runs)."""
    body: dict[str, Any] = {"database": "ok", "runner": "none"}
    try:
        results.require_migrated(settings.database_url)
    except Exception as exc:  # report, never raise: this endpoint is the probe
        body["database"] = f"error: {type(exc).__name__}: {exc}"[:500]
    runner = getattr(request.app.state, "runner", None)
    if runner is not None:
        body["runner"] = "alive" if runner.alive else "stopped"
        body["active_studies"] = runner.active_studies()
    healthy = body["database"] == "ok" and body["runner"] != "stopped"
    response.status_code = status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE
    body["status"] = "ok" if healthy else "unhealthy"
    return body
