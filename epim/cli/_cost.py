"""``epim presets``, ``epim cost``, ``epim export`` and the listing of ``epim networks``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from epim.cli._common import (
    FormatOption,
    OutputFormat,
    check_out_dir,
    emit,
    parse_assignments,
    print_or_write,
    user_errors,
)
from epim.cost_model import LatencyMode
from epim.space import MNSIM_BITS, TRAIN_BITS


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command("presets")(presets_command)
    app.command("cost")(cost_command)
    app.command("export")(export_command)


@user_errors
def networks_command(fmt: FormatOption = OutputFormat.table) -> None:
    """List the built-in networks with their layers, parameters and MACs."""
    from epim.workloads import get_network, list_networks

    rows: list[dict[str, Any]] = []
    for name in list_networks():
        net = get_network(name)
        rows.append({"name": name, "input": "x".join(map(str, net.input_shape)),
                     "layers": len(net), "compute_layers": len(net.compute_layers),
                     "params": net.params, "macs": net.macs})
    emit(rows, fmt, document=[{**r, "input": list(get_network(r["name"]).input_shape)}
                              for r in rows])


@user_errors
def presets_command(
    name: Annotated[str | None, typer.Argument(
        help="Preset to show in full, or 'import' to read an MNSIM SimConfig.ini.")] = None,
    simconfig: Annotated[Path | None, typer.Argument(
        metavar="[SIMCONFIG]", help="With 'import': the MNSIM 2.0 SimConfig.ini to read.")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="With 'import': write the preset here (default: print it).")] = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """List the hardware presets, show one with every constant, unit and source, or import one.

    ``epim presets import SimConfig.ini --out preset.yaml`` turns an MNSIM 2.0 configuration
    into a preset (every constant with its unit and the key or table it came from); keys that
    cannot affect the hardware are listed on stderr, unsupported ones are an error.
    """
    from epim.cost_model import list_presets, load_hardware

    if name == "import":
        _import_simconfig(simconfig, out)
        return
    if simconfig is not None or out is not None:
        from epim.errors import InputError

        raise InputError("SIMCONFIG and --out go with 'epim presets import'", field="NAME",
                         expected="import")
    if name is None:
        rows = [{"name": p, "description": load_hardware(p).description}
                for p in list_presets()]
        emit(rows, fmt)
        return
    hardware = load_hardware(name).to_dict()
    rows = [{"parameter": key, **entry} for key, entry in hardware["parameters"].items()]
    rows += [{"parameter": key, "value": value, "unit": "", "source": "option"}
             for key, value in hardware["options"].items()]
    emit(rows, fmt, document=hardware)


def _import_simconfig(simconfig: Path | None, out: Path | None) -> None:
    import yaml

    from epim.cost_model import hardware_from_dict, read_simconfig
    from epim.errors import InputError

    if simconfig is None:
        raise InputError("missing the SimConfig.ini to import", field="SIMCONFIG",
                         expected="a path to an MNSIM 2.0 SimConfig.ini")
    imported = read_simconfig(simconfig)
    hardware_from_dict(imported.document, source=str(simconfig))  # complete and valid
    if imported.ignored:
        typer.echo("note: no effect on the hardware path, ignored: "
                   + ", ".join(imported.ignored), err=True)
    text = yaml.safe_dump(imported.document, sort_keys=False, width=200)
    print_or_write(text, out, f" ({len(imported.document['parameters'])} parameters)")


@user_errors
def cost_command(
    network: Annotated[str, typer.Option("--network", help="Built-in name or network file.")],
    hardware: Annotated[str, typer.Option(
        "--hardware", help="mnsim, isaac, a preset file, or an MNSIM SimConfig .ini file.")
    ] = "mnsim",
    xbar_size: Annotated[int | None, typer.Option(
        "--xbar-size", help="N x N crossbars (ADC/DAC counts per crossbar unchanged).")] = None,
    weight_bits: Annotated[int, typer.Option(
        "--weight-bits", help="Weight bits of every layer, sign included (9 = sign + 8).")
    ] = MNSIM_BITS,
    act_bits: Annotated[int, typer.Option("--act-bits", help="Activation bits of every layer.")
                        ] = MNSIM_BITS,
    design: Annotated[Path | None, typer.Option(
        "--design", help="Design file (YAML/JSON; may carry hardware genes and per-layer "
        "replication); --weight-bits/--act-bits are its defaults.")] = None,
    assignments: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a hardware parameter or option, KEY=VALUE (repeatable); also "
        "xbar_size, adc_choice, dac_choice and crossbars_per_pe.")] = None,
    latency_mode: Annotated[LatencyMode, typer.Option(
        "--latency-mode", help="layer_by_layer, pipelined or throughput.")] = "layer_by_layer",
    baseline_bits: Annotated[int | None, typer.Option(
        "--baseline-bits", help="Also cost the dense network at B bits and report reductions.")
    ] = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Cost one design of a network on a PIM preset: crossbars, area, latency, energy.

    A design file's hardware genes apply to the preset after --set; the dense baseline of
    --baseline-bits stays on the preset.
    """
    from epim.cost_model import cost_report, hardware_from, network_from
    from epim.space import Design, load_design_file

    overrides: dict[str, Any] = parse_assignments(assignments or [])
    if xbar_size is not None:
        overrides["xbar_size"] = xbar_size
    hw = hardware_from(hardware, overrides, files=True, set_source="--set",
                          preset_location=(), set_location=())
    net = network_from(network, files=True)
    if design is not None:
        chosen = load_design_file(design, net, default_weight_bits=weight_bits,
                                  default_act_bits=act_bits)
    else:
        chosen = Design.dense(net, weight_bits, act_bits)
    if baseline_bits is not None:
        Design.dense(net, baseline_bits, baseline_bits)  # validates the range, names the field
    report = cost_report(net, chosen, hw, latency_mode=latency_mode,
                         baseline_bits=baseline_bits)
    if fmt is OutputFormat.table:
        typer.echo(format_report(report))
        return
    emit(report["layers"], fmt, document=report)


@user_errors
def export_command(
    network: Annotated[str, typer.Option("--network", help="Built-in name or network file.")],
    out: Annotated[Path, typer.Option("--out", help="Output model file (.pt).")],
    design: Annotated[Path | None, typer.Option(
        "--design", help="Design file (YAML/JSON); default: dense.")] = None,
    weight_bits: Annotated[int, typer.Option(
        "--weight-bits", help="Default weight bits of the design's layers.")] = TRAIN_BITS,
    act_bits: Annotated[int, typer.Option(
        "--act-bits", help="Default activation bits of the design's layers.")] = TRAIN_BITS,
    float_model: Annotated[bool, typer.Option(
        "--float", help="Export without fake quantization (float training).")] = False,
) -> None:
    """Write a runnable PyTorch model of a design (state, network and design) to --out.

    Load it with ``epim.nn.load(path)`` and train it fully (on a GPU when there is one).
    """
    from epim.cost_model import network_from
    from epim.nn import export
    from epim.space import Design, load_design_file

    net = network_from(network, files=True)
    chosen = (load_design_file(design, net, default_weight_bits=weight_bits,
                               default_act_bits=act_bits)
              if design is not None else Design.dense(net, weight_bits, act_bits))
    check_out_dir(out)
    path = export(out, net, chosen, quantize=not float_model)
    typer.echo(f"wrote {path} ({net.name}, {len(net.compute_layers)} epitome layers)")


def format_report(report: dict[str, Any]) -> str:
    """A readable table of a cost report (engineering units for people; JSON stays SI).

    The units are those of every CLI table (``epim.cli._units``): mm^2, ms, uJ.
    """
    from epim.cli._units import AREA, ENERGY, LATENCY

    lines = [
        f"network {report['network']} on {report['hardware']}",
        f"  crossbars        {report['crossbars']:,}",
        f"  tiles            {report['tiles']:,}",
        f"  crossbar area    {AREA.format(report['crossbar_area_m2'])}",
        f"  area             {AREA.format(report['area_m2'])}",
    ]
    for mode, value in report["latency_s_by_mode"].items():
        marker = " *" if mode == report["latency_mode"] else ""
        lines.append(f"  latency {mode:<15}{LATENCY.format(value)}{marker}")
    lines.append(f"  energy           {ENERGY.format(report['energy_j'])}")
    for component, value in report["energy_breakdown_j"].items():
        lines.append(f"    {component:<14} {ENERGY.format(value)}")
    lines.append(f"  params (stored)  {report['params']:,}")
    lines.append(f"  MACs             {report['macs']:,}")
    if "baseline" in report:
        base = report["baseline"]
        lines.append(f"  vs dense {base['weight_bits']}-bit: crossbar area "
                     f"{report['crossbar_area_reduction']:.2f}x smaller, energy "
                     f"{report['energy_reduction']:.2f}x, "
                     f"latency {report['latency_reduction']:.2f}x")
    lines.append("")
    lines.append(f"  {'layer':<28}{'type':<11}{'crossbars':>10}{'tiles':>7}"
                 f"{'latency ' + LATENCY.symbol:>13}{'energy ' + ENERGY.symbol:>13}")
    for layer in report["layers"]:
        latency = f"{layer['latency_s'] * LATENCY.scale:.{LATENCY.decimals}f}"
        energy = f"{layer['energy_j'] * ENERGY.scale:.{ENERGY.decimals}f}"
        lines.append(f"  {layer['name']:<28}{layer['type']:<11}{layer['crossbars']:>10}"
                     f"{layer['tiles']:>7}{latency:>13}{energy:>13}")
    return "\n".join(lines)
