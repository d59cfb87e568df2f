"""SQLAlchemy 2 models of the service's own tables (prefixed ``epim_``).

These tables are the one source of truth of EPIM Search: studies (spec, status, progress,
dense baseline, claim and heartbeat), trials (design, metrics, per-layer breakdown,
feasibility, constraints, state, and the sampler parameters they are replayed from), each
study's current Pareto front (``on_front``) and its progress over time. The CLI and the API read
and write them through this package alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, get_args

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

StudyStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
STUDY_STATUSES: tuple[str, ...] = get_args(StudyStatus)
#: A study's progress counters: columns of ``epim_studies`` (now) and ``epim_progress`` (after
#: each batch) under the same names, the fields of ``epim.search.Counters``.
COUNTERS: tuple[str, ...] = ("completed", "feasible", "failed", "front_size", "hypervolume",
                             "elapsed_s")


def utcnow() -> datetime:
    """Timezone-aware current time (UTC)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (UTC).

    PostgreSQL keeps the zone (``timestamptz``); SQLite has no zone type and stores the text
    of the UTC time, which is read back here as UTC instead of a naive time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """A naive time is taken as UTC; an aware one is converted to UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect
                             ) -> datetime | None:
        """The stored time in UTC, timezone-aware."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the ``epim_`` tables."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class StudyRow(Base):
    """One submitted study."""

    __tablename__ = "epim_studies"
    #: SQLite: ids of deleted studies are never given again (``AUTOINCREMENT``).
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy's own form

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    network: Mapped[str] = mapped_column(String(200), default="")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow,
                                                 onupdate=utcnow)
    n_trials: Mapped[int] = mapped_column(Integer)
    #: The six counters (:data:`COUNTERS`), as ``epim_progress`` names them too.
    completed: Mapped[int] = mapped_column(Integer, default=0)
    feasible: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    hypervolume: Mapped[float] = mapped_column(Float, default=0.0)
    front_size: Mapped[int] = mapped_column(Integer, default=0)
    elapsed_s: Mapped[float] = mapped_column(Float, default=0.0)
    best: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    artifacts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    #: Claims since the study last stored a batch; a study whose runner keeps dying before
    #: it stores anything fails instead of being claimed forever.
    claims: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: What the study's run is doing now (``epim.search.PHASES``: ``references``,
    #: ``solving``, ``training``, ...) and one line on it for people.
    phase: Mapped[str | None] = mapped_column(String(32))
    phase_detail: Mapped[str | None] = mapped_column(String(300))

    trials: Mapped[list[TrialRow]] = relationship(back_populates="study",
                                                  cascade="all, delete-orphan",
                                                  passive_deletes=True)


class TrialRow(Base):
    """One told trial of a study."""

    __tablename__ = "epim_trials"
    __table_args__ = (UniqueConstraint("study_id", "number", name="uq_epim_trials_number"),
                      Index("ix_epim_trials_feasible", "study_id", "feasible"),
                      Index("ix_epim_trials_front", "study_id", "on_front"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("epim_studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    feasible: Mapped[bool] = mapped_column(Boolean, default=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    constraints: Mapped[list[Any]] = mapped_column(JSON)
    design: Mapped[dict[str, Any]] = mapped_column(JSON)
    design_hash: Mapped[str] = mapped_column(String(32), default="")
    layers: Mapped[dict[str, Any]] = mapped_column(JSON)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    system_attrs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    values: Mapped[list[Any] | None] = mapped_column(JSON)
    accuracy_evaluated: Mapped[bool] = mapped_column(Boolean, default=False)
    node: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(32))
    fidelity: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    on_front: Mapped[bool] = mapped_column(Boolean, default=False, index=True)

    study: Mapped[StudyRow] = relationship(back_populates="trials")


class ArtifactRow(Base):
    """Something a study computed that other studies of the same key reuse.

    The dense start a proxy fine-tunes from (``data``: a numpy archive, never pickled) and a
    network's sensitivity profile (``data``: a JSON document).
    """

    __tablename__ = "epim_artifacts"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProgressRow(Base):
    """A study's counters after one stored batch (the history of its search)."""

    __tablename__ = "epim_progress"
    __table_args__ = (Index("ix_epim_progress_study", "study_id", "completed"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("epim_studies.id", ondelete="CASCADE"))
    completed: Mapped[int] = mapped_column(Integer)
    feasible: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    front_size: Mapped[int] = mapped_column(Integer)
    hypervolume: Mapped[float] = mapped_column(Float)
    elapsed_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
