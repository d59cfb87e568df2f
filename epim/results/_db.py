"""Engines, migrations (Alembic, own version table) and sessions."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
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
from sqlalchemy.pool import NullPool

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


def is_database_error(error: BaseException) -> bool:
    """True for an error raised by the database layer (its text may hold SQL and values)."""
    return isinstance(error, exc.SQLAlchemyError)


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
    """Migrate the database at ``url`` to ``revision``; returns the revision reached.

    On SQLite the migrations run with foreign keys off (SQLite's own procedure for rebuilding
    a table: dropping a referenced table would otherwise delete its children), and the keys
    are checked before they are turned on again.

    Raises:
        SchemaError: If a migration left a dangling reference (SQLite; nothing is committed).

    """
    engine = make_engine(url)
    with engine.connect() as connection:
        if is_sqlite(url):
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside any transaction
            connection.commit()
        try:
            with connection.begin():
                config = alembic_config(url)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if is_sqlite(url) and connection.exec_driver_sql(
                        "PRAGMA foreign_key_check").first() is not None:
                    raise SchemaError("a migration left rows that reference no study")
        finally:
            if is_sqlite(url):
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
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


@lru_cache(maxsize=1)
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


#: One health probe in flight per URL: a probe that hangs (a partition) is shared, not stacked.
_PROBES: dict[str, Future[str]] = {}
_PROBES_LOCK = threading.Lock()
_PROBE_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="epim-db-probe")


def probe(url: str, timeout_s: float = 1.0) -> str:
    """The database's health within ``timeout_s``: ``ok``, or what is wrong, by kind.

    ``ok``; ``not migrated: run `epim db upgrade``` (not at this version's head);
    ``unavailable (ErrorType)``; or ``unavailable (no answer within N s)`` when the database
    does not answer in time (a network partition: the probe then keeps running in the
    background, bounded by its own connect and statement timeouts, and later calls wait for
    it instead of starting another). Never raises; never names the URL or host.
    """
    with _PROBES_LOCK:
        future = _PROBES.get(url)
        if future is None or future.done():
            future = _PROBE_POOL.submit(_probe_once, url, timeout_s)
            _PROBES[url] = future
    try:
        return future.result(timeout=timeout_s)
    except FutureTimeout:
        return f"unavailable (no answer within {timeout_s:g} s)"


@lru_cache(maxsize=16)
def _probe_engine(url: str, timeout_s: float) -> Engine:
    """A pool-less engine with short connect and statement timeouts (PostgreSQL)."""
    if is_sqlite(url):
        return make_engine(url)
    seconds = max(2, math.ceil(timeout_s))  # libpq's smallest connect timeout is 2 s
    return create_engine(url, poolclass=NullPool, connect_args={
        "connect_timeout": seconds, "tcp_user_timeout": seconds * 1000,
        "options": f"-c statement_timeout={seconds * 1000}"})


def _probe_once(url: str, timeout_s: float) -> str:
    try:
        with _probe_engine(url, timeout_s).connect() as connection:
            context = MigrationContext.configure(connection,
                                                 opts={"version_table": VERSION_TABLE})
            current = context.get_current_revision()
    except Exception as error:  # the probe reports, never raises
        return f"unavailable ({type(error).__name__})"
    if current != head_revision():
        return "not migrated: run `epim db upgrade`"
    return "ok"


@lru_cache(maxsize=16)
def _sessions(url: str) -> sessionmaker[Session]:
    return sessionmaker(make_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error."""
    with _sessions(url).begin() as session:
        yield session
