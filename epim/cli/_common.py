"""What every command shares: one-line errors (exit status 2), output formats, the database."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from epim.errors import EpimError

if TYPE_CHECKING:
    from epim.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")


class OutputFormat(StrEnum):
    """``--format``: the one output convention of every command that prints data."""

    table = "table"
    json = "json"
    csv = "csv"


FormatOption = Annotated[OutputFormat, typer.Option(
    "--format", "-f", help="table (for people), json or csv (for programs).",
    case_sensitive=False)]
DatabaseOption = Annotated[str | None, typer.Option(
    "--database-url", help="SQLAlchemy URL (default: $EPIM_DATABASE_URL, else "
    "$EPIM_DATA_DIR/epim.db, a SQLite file in ./.epim).")]


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an :class:`EpimError` (or bad settings) into one line on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from pydantic import ValidationError

        try:
            return func(*args, **kwargs)
        except EpimError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
        except ValidationError as exc:  # the environment's settings
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            typer.echo(f"error: setting EPIM_{where.upper()}: {first['msg']}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def settings(database_url: str | None = None) -> Settings:
    """The environment's settings, with ``--database-url`` applied."""
    from epim.settings import get_settings

    current = get_settings()
    return current.model_copy(update={"database_url": database_url}) if database_url \
        else current


def emit(rows: Sequence[dict[str, Any]], fmt: OutputFormat, *,
         table: Callable[[Sequence[dict[str, Any]]], str] | None = None,
         document: Any = None, out: Path | None = None) -> None:
    """Print ``rows`` as a table, JSON (``document`` if given) or CSV (or write to ``out``).

    JSON and CSV keep SI units; the table shows engineering units (``epim.cli._units``).
    """
    if fmt is OutputFormat.json:
        text = json.dumps(rows if document is None else document, indent=1) + "\n"
    elif fmt is OutputFormat.csv:
        text = csv_text(rows)
    else:
        text = (table(rows) if table is not None else simple_table(rows)) + "\n"
    print_or_write(text, out)


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted columns, in each mapping's own order.

    ``{"energy_breakdown_j": {"adc": 1}}`` gives ``{"energy_breakdown_j.adc": 1}``.
    """
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as CSV: nested mappings one column per key (``flatten``), lists as JSON.

    Columns come in the order they first appear (a study's or a report's own order, the
    same on every run); text that would start a spreadsheet formula is escaped.
    """
    flat = [flatten(row) for row in rows]
    out = io.StringIO()
    columns = list(dict.fromkeys(k for row in flat for k in row))
    writer = csv.writer(out)
    writer.writerow([_cell(c) for c in columns])
    for row in flat:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell: lists (and empty mappings) as JSON; text that would start a formula escaped."""
    from epim.workloads import formula_safe

    if isinstance(value, dict | list):
        value = json.dumps(value)
    return formula_safe(value) if isinstance(value, str) else value


def simple_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as aligned columns, numbers right-aligned in engineering units.

    A column named after a quantity (``crossbar_area_m2``, ``latency_s``, ``energy_j``, ...)
    shows in that quantity's unit (``epim.cli._units.format_quantity``, as ``epim cost``
    prints it); other floats get 6 significant digits, integers thousands separators.
    """
    from epim.cli._units import format_quantity

    if not rows:
        return "(none)"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[format_quantity(c, row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row.get(c), int | float) and not isinstance(row.get(c), bool)
                   for row in rows if row.get(c) is not None) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                         for v, w, n in zip(values, widths, numeric, strict=True)).rstrip()

    return "\n".join([line(columns), *(line(r) for r in cells)])


def read_document(path: Path, what: str) -> Any:
    """A YAML or JSON file the CLI's user named (the CLI may read its own user's files).

    YAML anchors and aliases are refused (``epim.workloads.load_document_text``): a few
    lines of aliases can stand for billions of nodes.
    """
    from epim.errors import InputError
    from epim.workloads import load_document_text

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(f"cannot read {what} ({reason})", source=str(path)) from None
    try:
        return load_document_text(text, json_only=path.suffix == ".json")
    except ValueError as exc:
        raise InputError(str(exc), source=str(path)) from None


def print_or_write(text: str, out: Path | None, wrote: str = "") -> None:
    """Print ``text``, or write it to ``out`` and say so (``wrote``: what to add).

    ``out`` of ``-`` (or ``None``) is standard output.
    """
    if out is None or str(out) == "-":
        typer.echo(text, nl=False)
        return
    check_out_dir(out)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        from epim.errors import InputError

        raise InputError(f"cannot write ({exc.strerror})", source=str(out),
                         field="--out") from None
    typer.echo(f"wrote {out}{wrote}")


def check_out_dir(path: Path) -> None:
    """Refuse an ``--out`` file whose directory does not exist (before any work is done).

    Raises:
        InputError: Naming ``--out`` and the missing directory.

    """
    from epim.errors import InputError

    if path.parent and not path.parent.exists():
        raise InputError("directory does not exist", source=str(path.parent), field="--out")


def parse_assignments(assignments: Sequence[str], *, option: str = "--set") -> dict[str, str]:
    """Turn ``["key=value", ...]`` (the CLI's ``--set``) into a mapping.

    Raises:
        InputError: If an item has no ``=`` or no key; names ``option``.

    """
    from epim.errors import InputError

    result: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"bad assignment {item!r}", source=option,
                             expected="KEY=VALUE, e.g. xbar_rows=128")
        result[key.strip()] = value.strip()
    return result
