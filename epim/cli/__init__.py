"""The ``epim`` command line (Typer).

Every error a user can cause prints one line to stderr and exits with status 2, no traceback.
Commands that print data take ``--format table|json|csv``.
"""

from __future__ import annotations

import typer

from epim.cli import _cost, _service
from epim.cli._networks import networks_app
from epim.cli._study import study_app

app = typer.Typer(
    name="epim",
    help="EPIM Search: design-space search for epitome-based PIM CNN accelerators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_cost.register(app)
app.add_typer(networks_app, name="networks")
app.add_typer(study_app, name="study")
_service.register(app)


def main() -> None:
    """Entry point of the ``epim`` script: a usage error is one line and exit status 2."""
    import sys

    from typer.exceptions import TyperException

    try:
        code = app(prog_name="epim", standalone_mode=False)
    except TyperException as exc:  # usage errors: bad option values, missing arguments
        message = " ".join(exc.format_message().split())
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "epim"
        typer.echo(f"error: {command}: {message} (see {command} --help)", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
