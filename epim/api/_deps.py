"""Dependencies: settings, authentication (an ``X-API-Key`` header, or the UI's cookie)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated

from fastapi import Cookie, Depends, Header, HTTPException, Request, status

from epim.settings import Settings

#: The cookie the UI's login sets: an expiry signed with the key, never the key itself.
SESSION_COOKIE = "epim_session"
#: Digits of a session's expiry (Unix seconds) in its cookie, at most.
_EXPIRY_DIGITS = 12


async def settings_dep(request: Request) -> Settings:
    """The app's settings (set once when the app is created).

    The dependencies here are ``async`` (they never block): FastAPI runs a plain ``def``
    dependency in its thread pool, a hop per dependency per request.
    """
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(settings_dep)]


def session_token(key: str, expires: int) -> str:
    """The UI session cookie of an API key, valid until ``expires`` (Unix time, s).

    ``<expires>.<HMAC-SHA256 of the expiry under the key>``: the key never leaves the server,
    and the expiry cannot be changed without it.
    """
    mac = hmac.new(key.encode(), f"epim-ui-session:{expires}".encode(), hashlib.sha256)
    return f"{expires}.{mac.hexdigest()}"


def new_session(key: str, lifetime_s: float, now: float | None = None) -> str:
    """A session cookie of ``key`` that expires ``lifetime_s`` from ``now`` (default: now)."""
    return session_token(key, int((time.time() if now is None else now) + lifetime_s))


def session_valid(settings: Settings, cookie: str | None, now: float | None = None) -> bool:
    """Whether ``cookie`` is a session of a configured key that has not expired.

    A session is refused past its expiry, and also when its expiry lies further ahead than
    ``settings.session_s`` (a lifetime the operator has since shortened).
    """
    if cookie is None:
        return False
    expiry, _, _ = cookie.partition(".")
    if not (expiry.isascii() and expiry.isdigit() and len(expiry) <= _EXPIRY_DIGITS):
        return False
    expires = int(expiry)
    now = time.time() if now is None else now
    if not now < expires <= now + settings.session_s + 1:
        return False
    keys = [k for k in (settings.api_read_key, settings.api_key) if k is not None]
    return any(_matches(cookie, session_token(k, expires)) for k in keys)


def _matches(given: str | None, expected: str | None) -> bool:
    return (given is not None and expected is not None
            and hmac.compare_digest(given.encode(), expected.encode()))


def matching_key(settings: Settings, key: str) -> str | None:
    """The configured key (read or write) equal to ``key``, if any."""
    return next((k for k in (settings.api_read_key, settings.api_key)
                 if k is not None and _matches(key, k)), None)


def read_allowed(settings: Settings, key: str | None, cookie: str | None) -> bool:
    """Whether a request with this header and cookie may read."""
    if settings.api_read_key is None:
        return True
    keys = [k for k in (settings.api_read_key, settings.api_key) if k is not None]
    return any(_matches(key, k) for k in keys) or session_valid(settings, cookie)


async def require_read(settings: SettingsDep,
                 x_api_key: Annotated[str | None, Header()] = None,
                 epim_session: Annotated[str | None, Cookie()] = None) -> None:
    """Reads need the read key (or the write key, or the UI's session) when a read key is set."""
    if not read_allowed(settings, x_api_key, epim_session):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong X-API-Key",
                            headers={"WWW-Authenticate": "X-API-Key"})


async def require_write(settings: SettingsDep,
                  x_api_key: Annotated[str | None, Header()] = None) -> None:
    """Writes (and ``POST /evaluate``) need ``EPIM_API_KEY`` in the header when it is set."""
    if settings.api_key is not None and not _matches(x_api_key, settings.api_key):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong X-API-Key",
                            headers={"WWW-Authenticate": "X-API-Key"})


ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)
