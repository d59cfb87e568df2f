"""The FastAPI application."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl

import fastapi_offline
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Receive, Scope, Send

from epim.api._throttle import FailureThrottle
from epim.api.routers import catalog, health, studies, ui
from epim.errors import EpimError, InputError
from epim.results import TRANSIENT_ERRORS
from epim.settings import Settings, get_settings
from epim.workloads import printable


class RunnerLike(Protocol):
    """What the app needs of an in-process runner (``epim.service.Runner``)."""

    @property
    def alive(self) -> bool:
        """Whether it is claiming studies."""

    @property
    def database_ok(self) -> bool:
        """False while it waits for an unreachable database."""

    def start(self) -> None:
        """Start claiming studies."""

    def stop(self, timeout: float = 30.0) -> None:
        """Stop and put unfinished studies back in the queue."""

    def active_studies(self) -> list[int]:
        """Studies running now."""


class BodyLimit:
    """Reject request bodies over ``limit`` bytes with 413, before they are read whole.

    A body that declares its length (``Content-Length``) is judged by it (the server never
    delivers more than declared). A body without one (``Transfer-Encoding: chunked``) is read
    here, chunk by chunk, up to the limit: past it the request gets 413 at once; within it the
    app receives the body as one message.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.limit:
                await reject(send, 413, f"request body larger than {self.limit} bytes")
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.limit:
                await reject(send, 413, f"request body larger than {self.limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


class TextInQuery:
    """Answer 422 to a query string holding a NUL (no database compares text with one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if raw and (b"%00" in raw or b"\x00" in raw):
            for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
                if "\x00" in name or "\x00" in value:
                    detail = [{"loc": ["query", printable(name)], "type": "unstorable_text",
                               "msg": "text holds a NUL character: not allowed"}]
                    await reject(send, 422, detail)
                    return
        await self.app(scope, receive, send)


async def reject(send: Send, status_code: int, detail: Any) -> None:
    """Answer ``{"detail": detail}`` with ``status_code`` from an ASGI middleware."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status_code,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None, *,
               runners: Sequence[RunnerLike] = ()) -> FastAPI:
    """Build the app.

    Args:
        settings: Configuration (default: ``get_settings()``, read from the environment once).
        runners: In-process study runners: started with the app and stopped when it shuts
            down (SIGTERM, SIGINT), which puts their unfinished studies back in the queue;
            reported by ``/healthz``.

    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        import asyncio

        for runner in runners:
            runner.start()
        try:
            yield
        finally:
            for runner in runners:
                await asyncio.to_thread(runner.stop)

    # Swagger UI and ReDoc from the assets fastapi-offline ships: /docs renders offline.
    app = FastAPIOffline(
        redoc_url=None,  # served below, with its bundle's CDN logo replaced
        lifespan=lifespan,
        title="EPIM Search",
        summary="Design-space search for epitome-based PIM CNN accelerators",
        version="0.1.0",
        description="Submit studies (network, hardware, search space, objectives, "
                    "constraints), watch them run, browse trials and Pareto fronts.",
    )
    app.state.settings = settings
    app.state.runners = list(runners)
    app.state.login_throttle = FailureThrottle(limit=settings.login_failures_per_minute)

    @app.exception_handler(InputError)
    async def input_error(_: Request, exc: InputError) -> JSONResponse:
        loc = ["body", *exc.location, *([exc.field] if exc.field else [])]
        return JSONResponse({"detail": [{"loc": [printable(part) for part in loc],
                                         "msg": printable(str(exc)), "type": "value_error"}]},
                            status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(EpimError)
    async def epim_error(_: Request, exc: EpimError) -> JSONResponse:
        return JSONResponse({"detail": printable(str(exc))},
                            status.HTTP_503_SERVICE_UNAVAILABLE)

    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        """An unreachable database is a 503 with a retry hint, never a 500 with its URL."""
        return JSONResponse({"detail": f"database unavailable ({type(exc).__name__}); "
                             "try again shortly"}, status.HTTP_503_SERVICE_UNAVAILABLE,
                            headers={"Retry-After": "5"})

    for error in TRANSIENT_ERRORS:
        app.add_exception_handler(error, database_unavailable)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [printable(p) if isinstance(p, str) else p for p in e.get("loc", [])],
                   "msg": printable(str(e.get("msg", ""))),
                   "type": e.get("type", "value_error")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    add_redoc(app)

    for module in (studies, catalog, health, ui):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=ui.STATIC_DIR), name="ui-static")
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(TextInQuery)
    app.add_middleware(PagePolicy)
    return app


#: ReDoc's bundle (shipped by fastapi-offline) draws "API docs by Redocly" with a logo from
#: its CDN, which the pages' policy refuses (a console error); served here with that logo as
#: an inline image instead, so /redoc loads nothing but this server's assets.
REDOC_BUNDLE = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_LOGO = (b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' "
              b"height='1'/%3E")


@functools.cache
def redoc_bundle() -> bytes:
    """ReDoc's standalone bundle without requests to other hosts."""
    return REDOC_BUNDLE.read_bytes().replace(REDOC_CDN_LOGO, REDOC_LOGO)


def add_redoc(app: FastAPI) -> None:
    """``/redoc``: ReDoc on this server's assets only."""

    @app.get("/redoc/redoc.standalone.js", include_in_schema=False)
    def redoc_script() -> Response:
        return Response(redoc_bundle(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/redoc", include_in_schema=False)
    def redoc_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}",
                              title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{root}/redoc/redoc.standalone.js",
                              redoc_favicon_url=f"{root}/static-offline-docs/favicon.png",
                              with_google_fonts=False)


#: What the HTML pages may load: this server only (the docs' and the explorer's assets are
#: served by the app), inline styles and the docs' inline start-up scripts, data: images,
#: blob: workers (ReDoc).
PAGE_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'")


class PagePolicy:
    """Set a Content-Security-Policy on the HTML pages (``/ui``, ``/docs``, ``/redoc``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(("/ui", "/docs", "/redoc")):
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers.append((b"content-security-policy", PAGE_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_policy)
