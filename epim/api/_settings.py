"""Service settings, read from the environment once (``get_settings``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: Every environment variable the service reads (the deployment files may set only these).
ENVIRONMENT = ("EPIM_DATABASE_URL", "EPIM_DATA_DIR", "RAY_ADDRESS", "EPIM_API_KEY",
               "EPIM_API_READ_KEY", "EPIM_MAX_TRIALS", "EPIM_MAX_QUEUED", "EPIM_MAX_BODY_BYTES",
               "EPIM_RUNNER_CONCURRENCY", "EPIM_HEARTBEAT_S", "EPIM_STALE_AFTER_S")


@dataclass(frozen=True)
class Settings:
    """What the API and the runner are configured with.

    Attributes:
        database_url: SQLAlchemy URL (``EPIM_DATABASE_URL``; default: SQLite file
            ``$EPIM_DATA_DIR/epim.db``, ``EPIM_DATA_DIR`` defaulting to ``./.epim``).
        ray_address: Ray cluster for ``ray`` executors (``RAY_ADDRESS``).
        api_key: Needed for writes when set (``EPIM_API_KEY``), header ``X-API-Key``.
        read_key: Needed for reads when set (``EPIM_API_READ_KEY``).
        max_trials: Largest ``budget.n_trials`` accepted (``EPIM_MAX_TRIALS``).
        max_queued: Most studies waiting in the queue (``EPIM_MAX_QUEUED``).
        max_body_bytes: Largest request body (``EPIM_MAX_BODY_BYTES``).
        runner_concurrency: Studies one runner runs at once (``EPIM_RUNNER_CONCURRENCY``).
        heartbeat_s: Runner heartbeat period, s (``EPIM_HEARTBEAT_S``).
        stale_after_s: A claim without heartbeat this long is taken back, s
            (``EPIM_STALE_AFTER_S``).

    """

    database_url: str
    ray_address: str | None = None
    api_key: str | None = None
    read_key: str | None = None
    max_trials: int = 100_000
    max_queued: int = 100
    max_body_bytes: int = 1_000_000
    runner_concurrency: int = 1
    heartbeat_s: float = 5.0
    stale_after_s: float = 60.0

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default: the process environment)."""
        env = dict(os.environ if environ is None else environ)
        url = env.get("EPIM_DATABASE_URL")
        if not url:
            data_dir = Path(env.get("EPIM_DATA_DIR", ".epim"))
            data_dir.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{(data_dir / 'epim.db').resolve()}"
        return cls(
            database_url=url,
            ray_address=env.get("RAY_ADDRESS") or None,
            api_key=env.get("EPIM_API_KEY") or None,
            read_key=env.get("EPIM_API_READ_KEY") or None,
            max_trials=int(env.get("EPIM_MAX_TRIALS", 100_000)),
            max_queued=int(env.get("EPIM_MAX_QUEUED", 100)),
            max_body_bytes=int(env.get("EPIM_MAX_BODY_BYTES", 1_000_000)),
            runner_concurrency=int(env.get("EPIM_RUNNER_CONCURRENCY", 1)),
            heartbeat_s=float(env.get("EPIM_HEARTBEAT_S", 5.0)),
            stale_after_s=float(env.get("EPIM_STALE_AFTER_S", 60.0)),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings.from_environment()
