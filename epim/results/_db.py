"""Engines, migrations (Alembic, own version table) and sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exc, make_url
from sqlalchemy.orm import Session, sessionmaker

from epim.errors import EpimError

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "epim_alembic_version"


class SchemaError(EpimError):
    """The database is not migrated to this version of EPIM Search."""


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@lru_cache(maxsize=16)
def make_engine(url: str) -> Engine:
    """An engine for ``url``, cached per URL.

    SQLite runs in WAL mode with a busy timeout and foreign keys on (the file's directory is
    created); PostgreSQL pre-pings pooled connections, so a restarted server or a dropped
    connection costs one reconnect, not an error.
    """
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                         connect_args={"connect_timeout": 10})


def is_sqlite(url: str) -> bool:
    """True for a SQLite URL (the embedded default)."""
    return url.startswith("sqlite")


#: Database errors that may pass by themselves (see :func:`is_transient`).
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (exc.OperationalError, exc.InterfaceError,
                                                 exc.TimeoutError)


def is_transient(error: BaseException) -> bool:
    """True for a database error that may pass by itself: worth retrying, never fatal.

    Lost connections, a server that is down or restarting, a locked SQLite file.
    """
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, TRANSIENT_ERRORS)


def redact(url: str) -> str:
    """``url`` without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "(unparsable URL)"


def alembic_config(url: str) -> Config:
    """The Alembic configuration of the ``epim_`` tables for ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["version_table"] = VERSION_TABLE
    return config


def upgrade(url: str, revision: str = "head") -> str:
    """Migrate the database at ``url`` to ``revision``; returns the revision reached."""
    with make_engine(url).begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return current_revision(url) or ""


def ensure_schema(url: str) -> None:
    """Make the database ready (SQLite: create and migrate; PostgreSQL: check).

    A SQLite file, the embedded default, is created and migrated in place; PostgreSQL must
    already be at head (``epim db upgrade``, run once per deployment).

    Raises:
        SchemaError: A PostgreSQL database that is not migrated to this version.

    """
    if is_sqlite(url):
        upgrade(url)
    else:
        require_migrated(url)


def head_revision() -> str:
    """The newest migration of this version of EPIM Search."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The revision the database is at (``None`` when never migrated)."""
    with make_engine(url).connect() as connection:
        context = MigrationContext.configure(connection,
                                             opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def require_migrated(url: str) -> None:
    """Raise :class:`SchemaError`, saying what to run, unless the database is at head."""
    current, head = current_revision(url), head_revision()
    if current != head:
        state = "not migrated" if current is None else f"at revision {current}"
        raise SchemaError(f"the database {redact(url)} is {state}, this EPIM Search needs "
                          f"{head}: run `epim db upgrade --database-url URL` first")


@lru_cache(maxsize=16)
def _sessions(url: str) -> sessionmaker[Session]:
    return sessionmaker(make_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error."""
    with _sessions(url).begin() as session:
        yield session
