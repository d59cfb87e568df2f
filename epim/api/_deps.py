"""Dependencies: settings, authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from epim.api._settings import Settings


def settings_dep(request: Request) -> Settings:
    """The app's settings (set once when the app is created)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(settings_dep)]


def _check(expected: str | None, given: str | None) -> None:
    if expected is None:
        return
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong X-API-Key",
                            headers={"WWW-Authenticate": "X-API-Key"})


def require_read(settings: SettingsDep,
                 x_api_key: Annotated[str | None, Header()] = None) -> None:
    """Reads need ``EPIM_API_READ_KEY`` (or the write key) when a read key is set."""
    if settings.read_key is None:
        return
    if settings.api_key is not None and x_api_key is not None and hmac.compare_digest(
            x_api_key.encode(), settings.api_key.encode()):
        return
    _check(settings.read_key, x_api_key)


def require_write(settings: SettingsDep,
                  x_api_key: Annotated[str | None, Header()] = None) -> None:
    """Writes need ``EPIM_API_KEY`` when it is set (constant-time comparison)."""
    _check(settings.api_key, x_api_key)


ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)
