"""``/healthz``: database reachable and migrated, runners alive."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from epim import results
from epim.api._deps import SettingsDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Database reachable and migrated; runners alive")
def healthz(settings: SettingsDep, request: Request, response: Response) -> dict[str, Any]:
    """200 when the database answers at the expected schema and every runner runs, else 503.

    Problems are named by kind, never with the database's URL or host.
    """
    body: dict[str, Any] = {"database": "ok", "runners": []}
    try:
        results.require_migrated(settings.database_url)
    except results.SchemaError:
        body["database"] = "not migrated: run `epim db upgrade`"
    except Exception as exc:  # report, never raise: this endpoint is the probe
        body["database"] = f"unavailable ({type(exc).__name__})"
    runners = request.app.state.runners
    for runner in runners:
        body["runners"].append({
            "state": "alive" if runner.alive else "stopped",
            "database": "ok" if runner.database_ok else "retrying",
            "active_studies": runner.active_studies()})
    healthy = body["database"] == "ok" and all(r["state"] == "alive" for r in body["runners"])
    response.status_code = status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE
    body["status"] = "ok" if healthy else "unhealthy"
    return body
