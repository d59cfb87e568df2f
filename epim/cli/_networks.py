"""``epim networks`` (list the built-in networks) and ``epim networks import MODEL.onnx``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from epim.cli._common import FormatOption, OutputFormat, print_or_write, user_errors

networks_app = typer.Typer(
    help="List the built-in networks (no command), or import a network from ONNX.",
    invoke_without_command=True)


@networks_app.callback()
def networks_main(ctx: typer.Context, fmt: FormatOption = OutputFormat.table) -> None:
    """List the built-in networks with their layers, parameters and MACs."""
    from epim.cli._cost import networks_command

    if ctx.invoked_subcommand is None:
        networks_command(fmt)


@networks_app.command("import")
@user_errors
def import_command(
    model: Annotated[Path, typer.Argument(metavar="MODEL.onnx", help="An ONNX model file.")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Network file to write (.yaml or .json); default: print YAML.")] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Network name (default: the file's stem).")] = None,
) -> None:
    """Convert an ONNX model's graph into a network file (shapes only, no weights).

    Conv, Gemm/MatMul, pooling, Add and Concat become layers; BatchNorm and activations are
    folded away; any other operator is an error naming the node and its op type.
    """
    import json

    import yaml

    from epim.cli._common import check_out_dir
    from epim.workloads import load_onnx_network, network_to_dict

    if out is not None:
        check_out_dir(out)
    net = load_onnx_network(model, name=name)
    document = network_to_dict(net)
    if out is not None and out.suffix == ".json":
        text = json.dumps(document, indent=1) + "\n"
    else:
        text = yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=100)
    print_or_write(text, out, f" ({net.name}: {len(net)} layers, {len(net.compute_layers)} "
                   f"conv/linear, {net.macs:,} MACs)")
