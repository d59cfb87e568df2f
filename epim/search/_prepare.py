"""Resolve a spec into what a study runs on: network, hardware, space and cost model.

``prepare_study`` is the one place where a spec's names and inline documents become objects,
so a spec that would fail later fails here, at submission, with the path of the offending
field (``network.layers.conv3.out_channels``, ``hardware.set.xbar_rows``, ...). The network
and the hardware are built once per study.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

from epim.cost_model import CostModel, Hardware, hardware_from, network_from
from epim.errors import InputError, located
from epim.search._limits import StudyLimits
from epim.search._spec import SpaceSpec, StudySpec
from epim.space import ChipBudget, LayerOptions, SearchSpace
from epim.workloads import Network


@dataclass(frozen=True)
class PreparedStudy:
    """A validated spec with everything built from it.

    Attributes:
        spec: The study.
        network: Its network.
        hardware: Its hardware (preset with overrides).
        space: Its search space (crossbar-aligned to ``hardware``).
        model: The cost model of ``network`` on ``hardware``.

    """

    spec: StudySpec
    network: Network
    hardware: Hardware
    space: SearchSpace
    model: CostModel

    @property
    def metrics(self) -> list[str]:
        """The objectives' metrics, in order."""
        return [o.metric for o in self.spec.objectives]

    @property
    def directions(self) -> list[Literal["minimize", "maximize"]]:
        """The objectives' directions, in order."""
        return [o.direction for o in self.spec.objectives]


def prepare_study(spec: StudySpec, limits: StudyLimits | None = None) -> PreparedStudy:
    """Build the network, hardware, space and cost model of ``spec`` within ``limits``.

    Raises:
        InputError: Whose ``location`` is the path of the offending field in the spec.

    """
    limits = limits or StudyLimits()
    if spec.budget.n_trials > limits.max_trials:
        raise InputError(f"{spec.budget.n_trials} trials", location=("budget",),
                         field="n_trials",
                         expected=f"at most {limits.max_trials} trials per study on this server")
    network = located(("network",), lambda: network_from(spec.network, limits.network))
    hardware = located(("hardware",), lambda: build_hardware(spec))
    space = located(("space",), lambda: build_space(spec.space, network, hardware))
    model = CostModel(network=network, hardware=hardware)
    for variant in space.hardware_variants():  # every tuple fits the preset
        located(("space", "hardware"), partial(model.variant, variant))
    if spec.sampler.name == "layerwise" and space.chip is not None:
        bounded = "max_tiles" if space.chip.max_tiles is not None else "max_area_m2"
        raise InputError("the layerwise sampler does not bound a chip budget (its exact "
                         "fronts would carry the chip area as one more dimension)",
                         location=("space", "hardware"), field=bounded,
                         expected="no max_tiles or max_area_m2 with layerwise (hardware genes "
                         "and replication are fine), or sampler nsga2, nsga3, tpe, random "
                         "or gp with the budget")
    searched = len(space.parameters())
    if searched > limits.max_parameters:
        raise InputError(f"{searched} searched parameters", location=("space",),
                         expected=f"at most {limits.max_parameters} on this server: freeze "
                         "layers or fix fields")
    return PreparedStudy(spec=spec, network=network, hardware=hardware, space=space,
                         model=model)


def build_hardware(spec: StudySpec) -> Hardware:
    """The spec's preset (built-in or inline) with its ``set`` overrides applied."""
    return hardware_from(spec.hardware.preset, spec.hardware.set)


def build_space(space: SpaceSpec, network: Network, hardware: Hardware) -> SearchSpace:
    """The spec's search space, crossbar-aligned to ``hardware`` (and its searched sizes)."""
    act = space.activation_bits
    channels, crossbar = space.prune_kinds
    options = LayerOptions(
        channel_ratios=tuple(space.epitome.channel_ratios),
        channels=tuple(space.epitome.channels), spatial=space.epitome.spatial,
        spatial_growth=tuple(space.epitome.spatial_growth),
        pim_aligned=space.epitome.pim_aligned, weight_bits=tuple(space.weight_bits),
        activation_bits=tuple(act) if isinstance(act, list) else (act,),
        replication=tuple(space.replication), epitome="epitome" in space.operators,
        prune_channels=tuple(space.prune.channel_ratios) if channels else (),
        prune_crossbar=tuple(space.prune.crossbar_ratios) if crossbar else ())
    overrides = {pattern: override.model_dump(exclude_none=True)
                 for pattern, override in space.overrides.items()}
    budget = space.hardware
    chip = None if budget.max_tiles is None and budget.max_area_m2 is None else ChipBudget(
        max_tiles=budget.max_tiles, max_area_m2=budget.max_area_m2)
    return SearchSpace.build(network, options=options, frozen=space.frozen,
                             frozen_bits=space.frozen_bits, overrides=overrides,
                             xbar_rows=hardware.xbar_rows, xbar_cols=hardware.xbar_cols,
                             hardware=budget.genes, chip=chip)
