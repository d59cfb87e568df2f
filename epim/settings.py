"""The service's settings, read from the environment once (``get_settings``).

One light module (pydantic-settings, no FastAPI) for the API, the runner and the CLI: every
variable is a field (``EPIM_<FIELD>``, plus ``RAY_ADDRESS``), validated, with its default here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from epim.datasets import ROOT_NAME_PATTERN
from epim.search import StudyLimits
from epim.workloads import NetworkLimits

PositiveInt = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Settings(BaseSettings):
    """What the API, the runners and the CLI are configured with.

    Attributes:
        database_url: SQLAlchemy URL (``EPIM_DATABASE_URL``; default: SQLite file
            ``$EPIM_DATA_DIR/epim.db``).
        data_dir: Where the embedded database lives (``EPIM_DATA_DIR``, default ``./.epim``).
        ray_address: Ray cluster for ``ray`` executors (``RAY_ADDRESS``).
        api_key: Needed for writes and ``POST /evaluate`` when set (``EPIM_API_KEY``).
        api_read_key: Needed for reads when set (``EPIM_API_READ_KEY``); the UI logs in with it.
        data_roots: Dataset directories a study may pick by name (``EPIM_DATA_ROOTS``,
            ``name=/path,name=/path``); clients never name a path.
        checkpoints: Pretrained checkpoint files a study may start its proxy from, by name
            (``EPIM_CHECKPOINTS``, ``name=/path/file.pt,name=/path/file.safetensors``).
        max_trials: Largest ``budget.n_trials``.
        max_queued: Most studies waiting in the queue.
        max_body_bytes: Largest request body (bytes).
        max_page: Most rows one listing returns.
        max_layers, max_channels, max_kernel, max_input_size, max_layer_weights: Bounds on an
            inline network (``epim.workloads.NetworkLimits``).
        max_parameters: Most searched parameters per study.
        max_proxy_bytes: Memory the accuracy proxy of a study may need (bytes, estimated at
            submission from the scaled network, the batch and the evaluation chunks).
        max_study_bytes: What one study may store (bytes, its trials' estimated size).
        session_s: Lifetime of a UI login (s); the signed cookie is refused after it.
        cookie_secure: Mark the UI cookie ``Secure`` (``EPIM_COOKIE_SECURE``; unset: when
            the request came over HTTPS; set it behind a TLS-terminating proxy).
        login_failures_per_minute: Failed UI logins one client may make per minute before
            it gets 429.
        runner_concurrency: Studies one runner runs at once.
        heartbeat_s: Runner heartbeat period (s).
        stale_after_s: A running study without a heartbeat this long is requeued (s).
        worker_max_bytes: Memory (data, bytes) of the process a runner trains proxies in;
            an evaluation that needs more fails, the service does not (0: no limit).

    """

    model_config = SettingsConfigDict(env_prefix="EPIM_", frozen=True, extra="ignore",
                                      populate_by_name=True)

    database_url: str = ""
    data_dir: Path = Path(".epim")
    ray_address: str | None = Field(None, validation_alias=AliasChoices(
        "RAY_ADDRESS", "ray_address"))
    api_key: str | None = None
    api_read_key: str | None = None
    data_roots: Annotated[dict[str, Path], NoDecode] = Field(default_factory=dict)
    checkpoints: Annotated[dict[str, Path], NoDecode] = Field(default_factory=dict)
    max_trials: PositiveInt = 100_000
    max_queued: PositiveInt = 100
    max_body_bytes: PositiveInt = 1_000_000
    max_page: PositiveInt = 1_000
    max_layers: PositiveInt = 1_000
    max_channels: PositiveInt = 65_536
    max_kernel: PositiveInt = 64
    max_input_size: PositiveInt = 4_096
    max_layer_weights: PositiveInt = 2**28
    max_parameters: PositiveInt = 2_000
    max_proxy_bytes: PositiveInt = 4 * 2**30
    max_study_bytes: PositiveInt = 4 * 2**30
    session_s: PositiveFloat = 12 * 3600.0
    cookie_secure: bool | None = None
    login_failures_per_minute: PositiveInt = 10
    runner_concurrency: PositiveInt = 1
    heartbeat_s: PositiveFloat = 5.0
    stale_after_s: PositiveFloat = 60.0
    worker_max_bytes: Annotated[int, Field(ge=0)] = 4 * 2**30

    @field_validator("api_key", "api_read_key", "ray_address", "cookie_secure", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("data_roots", "checkpoints", mode="before")
    @classmethod
    def _parse_roots(cls, value: Any) -> Any:
        """``name=/path,name=/path`` (or a mapping); names as ``accuracy.data_root`` takes."""
        if not isinstance(value, str):
            return value
        roots: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, path = item.partition("=")
            if not sep or not name.strip() or not path.strip():
                raise ValueError(f"bad entry {item!r}: expected name=/absolute/path")
            roots[name.strip()] = path.strip()
        return roots

    @field_validator("data_roots", "checkpoints")
    @classmethod
    def _check_roots(cls, value: dict[str, Path]) -> dict[str, Path]:
        import re

        for name, path in value.items():
            if not re.match(ROOT_NAME_PATTERN, name):
                raise ValueError(f"bad root name {name!r}: letters, digits, '_', '.', '-'")
            if not path.is_absolute():
                raise ValueError(f"root {name!r}: {path} is not an absolute path")
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            url = f"sqlite:///{(self.data_dir / 'epim.db').resolve()}"
            object.__setattr__(self, "database_url", url)
        return self

    def limits(self) -> StudyLimits:
        """The study limits these settings impose."""
        return StudyLimits(
            network=NetworkLimits(max_layers=self.max_layers, max_channels=self.max_channels,
                                  max_kernel=self.max_kernel,
                                  max_input_size=self.max_input_size,
                                  max_layer_weights=self.max_layer_weights),
            max_parameters=self.max_parameters, max_trials=self.max_trials,
            max_proxy_bytes=self.max_proxy_bytes, max_study_bytes=self.max_study_bytes)


def environment_variables() -> tuple[str, ...]:
    """Every environment variable the settings read (what deployment files may set)."""
    names = []
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        names.append(alias.choices[0] if isinstance(alias, AliasChoices) else
                     f"EPIM_{name.upper()}")
    return tuple(str(n) for n in names)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
