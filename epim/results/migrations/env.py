"""Alembic environment for the epim_ tables (own version table; Optuna's tables untouched)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from epim.results._models import Base

config = context.config
target_metadata = Base.metadata
VERSION_TABLE = config.attributes.get("version_table", "epim_alembic_version")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Only the epim_ tables belong to these migrations."""
    return type_ != "table" or (name or "").startswith("epim_")


def run() -> None:
    """Run the migrations on the given connection, or on a new engine for the URL."""
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata,
                              version_table=VERSION_TABLE, include_name=include_name,
                              render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata,
                      version_table=VERSION_TABLE, include_name=include_name,
                      render_as_batch=True)
    context.run_migrations()


run()
