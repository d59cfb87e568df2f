"""``/ui/``: pages a person can browse: studies, the front explorer, comparisons."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Cookie, HTTPException, Request, status
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from epim import results
from epim.api._deps import (
    SESSION_COOKIE,
    SettingsDep,
    matching_key,
    new_session,
    read_allowed,
)
from epim.api._throttle import FailureThrottle
from epim.metrics import metric_table
from epim.settings import Settings

router = APIRouter(prefix="/ui", tags=["ui"], include_in_schema=False)
#: The pages' HTML (Jinja2, autoescaped) and their scripts and style, served under /ui/static.
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
STATIC_DIR = Path(__file__).parent.parent / "static"
TEMPLATES.env.globals["metric_registry"] = metric_table()  # chart.js's labels and units
Session = Annotated[str | None, Cookie(alias=SESSION_COOKIE)]


def _login_redirect(request: Request) -> RedirectResponse:
    target = quote(request.url.path, safe="/")
    return RedirectResponse(f"/ui/login?next={target}", status.HTTP_303_SEE_OTHER)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/ui/", failed: bool = False) -> Response:
    """A form for the API key (the read key, or the write key)."""
    return _render(request, "login.html", next=_safe_next(next), failed=failed)


@router.post("/login")
async def login(request: Request, settings: SettingsDep) -> Response:
    """Check the key; on success set an HttpOnly session cookie that expires.

    The cookie carries its expiry (``EPIM_SESSION_S`` from now) signed with the key; it is
    ``Secure`` over HTTPS, or as ``EPIM_COOKIE_SECURE`` says. A client with
    ``EPIM_LOGIN_FAILURES_PER_MINUTE`` failed logins in the last minute gets 429.
    """
    throttle: FailureThrottle = request.app.state.login_throttle
    client = request.client.host if request.client is not None else "unknown"
    wait = throttle.retry_after(client)
    if wait is not None:
        seconds = max(1, int(wait + 0.999))
        return PlainTextResponse(f"too many failed logins; try again in {seconds} s",
                                 status.HTTP_429_TOO_MANY_REQUESTS,
                                 headers={"Retry-After": str(seconds)})
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0]
    target = _safe_next((form.get("next") or ["/ui/"])[0])
    if settings.api_read_key is None:  # reads are open: nothing to log in to
        return RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    matching = matching_key(settings, key)
    if matching is None:
        throttle.failed(client)
        return RedirectResponse(f"/ui/login?failed=true&next={quote(target, safe='/')}",
                                status.HTTP_303_SEE_OTHER)
    secure = (settings.cookie_secure if settings.cookie_secure is not None
              else request.url.scheme == "https")
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    response.set_cookie(SESSION_COOKIE, new_session(matching, settings.session_s),
                        max_age=int(settings.session_s), httponly=True, samesite="strict",
                        secure=secure, path="/")
    return response


@router.get("/logout")
def logout() -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/ui/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _safe_next(target: str) -> str:
    """Only pages of this UI (no open redirect)."""
    return target if target.startswith("/ui/") and "//" not in target else "/ui/"

def _render(request: Request, template: str, **context: Any) -> Response:
    return TEMPLATES.TemplateResponse(request, template, context)


def _allowed(settings: Settings, request: Request, session: str | None) -> bool:
    return read_allowed(settings, request.headers.get("x-api-key"), session)


def _study_or_404(settings: Settings, study_id: int) -> results.StudyRow:
    row = results.get_study(settings.database_url, study_id) \
        if 1 <= study_id <= 2**31 - 1 else None
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study {study_id}")
    return row


@router.get("/", response_class=HTMLResponse)
def index(settings: SettingsDep, request: Request, session: Session = None) -> Response:
    """All studies with their status and progress, and a form to compare two."""
    if not _allowed(settings, request, session):
        return _login_redirect(request)
    page = results.list_studies(settings.database_url, limit=200)
    return _render(request, "index.html", studies=page.items,
                   logged_in=session is not None)


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(settings: SettingsDep, study_id: int, request: Request,
               session: Session = None) -> Response:
    """The front explorer: chart, front table, selected design per layer, history.

    The page is static HTML; ``/ui/static/study.js`` reads the study from the JSON API.
    """
    if not _allowed(settings, request, session):
        return _login_redirect(request)
    row = _study_or_404(settings, study_id)
    others = [r for r in results.list_studies(settings.database_url, limit=200).items
              if r.id != study_id]
    return _render(request, "study.html", study=row, others=others,
                   logged_in=session is not None)


@router.get("/compare", response_class=HTMLResponse)
def compare_page(settings: SettingsDep, request: Request, a: int | None = None,
                 b: int | None = None, session: Session = None) -> Response:
    """Two studies' fronts on shared axes, and their hypervolume histories.

    Without ``a`` and ``b`` (or with one of them): a form to pick the two studies.
    """
    if not _allowed(settings, request, session):
        return _login_redirect(request)
    if a is None or b is None:
        given = a if a is not None else b
        chosen = None if given is None else _study_or_404(settings, given)
        studies = results.list_studies(settings.database_url, limit=200).items
        first = chosen.id if chosen is not None else (studies[0].id if studies else None)
        second = next((s.id for s in studies if s.id != first), None)
        return _render(request, "compare_pick.html", studies=studies, a=first, b=second,
                       logged_in=session is not None)
    return _render(request, "compare.html", a=_study_or_404(settings, a),
                   b=_study_or_404(settings, b), logged_in=session is not None)
