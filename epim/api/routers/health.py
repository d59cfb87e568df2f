"""``/healthz``: database reachable and migrated, runners alive."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from epim import results
from epim.api._deps import SettingsDep

router = APIRouter(tags=["health"])


#: Seconds the database has to answer the probe before ``/healthz`` says 503.
PROBE_TIMEOUT_S = 1.0


@router.get("/healthz", summary="Database reachable and migrated; runners alive")
def healthz(settings: SettingsDep, request: Request, response: Response) -> dict[str, Any]:
    """200 when the database answers at the expected schema and every runner runs, else 503.

    Answers within about a second whatever the database does (a partition gives 503 with
    ``unavailable (no answer within 1 s)``). Problems are named by kind, never with the
    database's URL or host.
    """
    body: dict[str, Any] = {"database": results.probe(settings.database_url, PROBE_TIMEOUT_S),
                            "runners": []}
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
