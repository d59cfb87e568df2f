"""A stored trial as things a researcher takes away: its design file, a model, a layer view.

Also the references a front is read against: the dense baseline and the uniform hand designs
of the study's space (every layer at the same channel rank and bit-width), costed with the
study's own cost model. The study's network, hardware and space are rebuilt from its stored
spec once per spec (``prepare_study``) and kept.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import yaml

from epim import results
from epim.search import PreparedStudy, cost_metrics, prepare_study
from epim.service._documents import (
    HistoryPoint,
    LayerCost,
    References,
    TrialDetail,
    history_point,
    trial_public,
)
from epim.service._stored import parsed_spec, spec_text
from epim.space import Design, DesignBatch, design_from_dict, prune_producers
from epim.workloads import Layer


@functools.lru_cache(maxsize=32)
def _prepared(text: str) -> PreparedStudy:
    return prepare_study(parsed_spec(text))


def prepared_study(row: results.StudyRow) -> PreparedStudy:
    """The study's network, hardware, space and cost model (built once per spec)."""
    return _prepared(spec_text(row.spec))


def trial_design(row: results.StudyRow, trial: results.TrialRow) -> Design:
    """The trial's design, checked against the study's network."""
    return design_from_dict(trial.design, prepared_study(row).network,
                            source=f"study {row.id} trial {trial.number}")


def design_text(document: dict[str, Any], fmt: str) -> str:
    """A design file (``yaml`` or ``json``) that ``epim cost --design`` reads back."""
    if fmt == "json":
        return json.dumps(document, indent=1) + "\n"
    return yaml.safe_dump(document, sort_keys=False)


def trial_model(row: results.StudyRow, trial: results.TrialRow) -> bytes:
    """The ``epim export`` file of the trial's design (freshly initialized, to be trained).

    Loadable with ``epim.nn.load``; it holds the study's full network (not the proxy's
    width-scaled copy), the design and the study's quantization setting.
    """
    from epim.nn import export_bytes  # torch only where a model is asked for

    prepared = prepared_study(row)
    extra = {"study": row.id, "trial": trial.number,
             "metrics": {k: float(v) for k, v in trial.metrics.items()}}
    return export_bytes(prepared.network, trial_design(row, trial), extra=extra)


def trial_detail(row: results.StudyRow, trial: results.TrialRow) -> TrialDetail:
    """The trial with its per-layer breakdown (``GET /studies/{id}/trials/{n}``)."""
    return TrialDetail(**dict(trial_public(trial)), layers=layer_view(row, trial))


def layer_view(row: results.StudyRow, trial: results.TrialRow) -> list[LayerCost]:
    """Per network layer: type, costs and, for conv/linear layers, stored vs full shape.

    Each entry has ``name``, ``type``, ``crossbars``, ``tiles``, ``latency_s`` (s) and
    ``energy_j`` (J); a compute layer also has ``in_channels`` (per group), ``out_channels``,
    ``kernel_h``, ``kernel_w``, its design fields, ``operator`` (``dense``, ``epitome``,
    ``prune_channels``, ``prune_rows`` or ``prune_cols``; ``epim.space._prune``) and
    ``stored_fraction`` (stored weights / dense weights, after the pruning of its inputs).
    """
    breakdown = trial.layers or {}
    if not breakdown:
        return []
    network = prepared_study(row).network
    design = (trial.design or {}).get("layers", {})
    producers = prune_producers(network)
    view = []
    for i, layer in enumerate(network.layers):
        entry: dict[str, Any] = {
            "name": layer.name, "type": layer.kind,
            "crossbars": int(breakdown["crossbars"][i]), "tiles": int(breakdown["tiles"][i]),
            "latency_s": float(breakdown["latency_s"][i]),
            "energy_j": float(breakdown["energy_j"][i])}
        choice = design.get(layer.name)
        if layer.is_compute and choice is not None:
            cout, cin_g, kh, kw = layer.weight_shape
            operator, stored = _operator(layer, choice, design.get(producers.get(layer.name, "")))
            entry.update(in_channels=cin_g, out_channels=cout, kernel_h=kh, kernel_w=kw,
                         **{k: int(v) for k, v in choice.items()}, operator=operator,
                         stored_fraction=stored / layer.params)
        view.append(LayerCost.model_validate(entry))
    return view


def dense_costs(prepared: PreparedStudy) -> dict[str, float]:
    """The dense design's cost metrics (SI units), as the driver stores them in its baseline.

    Known from the spec alone, so the references are there before the study's run stores
    its baseline (which adds the dense proxy's accuracy when the study trains one).
    """
    bits = prepared.spec.baseline_bits
    dense = DesignBatch.dense(prepared.network, 1, weight_bits=bits, act_bits=bits)
    unit = {"crossbar_area_m2": 1.0, "energy_j": 1.0, "latency_s": 1.0}
    metrics = cost_metrics(prepared.model.evaluate(dense), unit, prepared.spec.latency_mode)
    return {k: float(v[0]) for k, v in metrics.items() if not k.endswith("_reduction")}


def _operator(layer: Layer, choice: dict[str, Any], upstream: dict[str, Any] | None
              ) -> tuple[str, int]:
    """The operator family of a layer's choice, and the weights it stores."""
    cout, cin_g, kh, kw = layer.weight_shape
    shape = (choice["epitome_in"], choice["epitome_out"], choice["epitome_h"],
             choice["epitome_w"])
    if shape != (cin_g, cout, kh, kw):
        return "epitome", shape[0] * shape[1] * shape[2] * shape[3]
    cin = (upstream or {}).get("prune_out") or cin_g
    out = choice.get("prune_out") or cout
    rows = min(cin, cin_g) * kh * kw
    if choice.get("prune_rows"):
        return "prune_rows", min(choice["prune_rows"], rows) * out
    if choice.get("prune_cols"):
        return "prune_cols", rows * min(choice["prune_cols"], out)
    return ("prune_channels" if out < cout else "dense"), rows * out


def reference_designs(url: str, row: results.StudyRow) -> References:
    """The dense baseline and the uniform hand designs of the study's space, with metrics.

    A uniform design's metrics are its cost metrics from the study's cost model; where the
    study evaluated the same design as a trial, that trial's number and metrics (accuracy
    included) are given instead. Before the run stores the dense baseline (a queued study,
    or one in its dense start), the dense design's costs come from the spec
    (:func:`dense_costs`), so the references are known from the study's first second.

    """
    prepared = prepared_study(row)
    baseline = (row.baseline or {}).get("metrics") or dense_costs(prepared)
    dense = {"label": f"dense {prepared.spec.baseline_bits}-bit",
             "metrics": {k: float(v) for k, v in baseline.items()}}
    choices = prepared.space.uniform_choices()
    if not choices:
        return References.model_validate({"dense": dense, "uniform": []})
    batch: DesignBatch = prepared.space.decode_batch(choices)
    costs = prepared.model.evaluate(batch)
    metrics = cost_metrics(costs, baseline, prepared.spec.latency_mode)
    hashes = batch.digests()
    evaluated = results.trials_by_design_hash(url, row.id, hashes)
    wbits_keys = [k for k in choices[0] if k.endswith("/wbits")]
    ranks: dict[tuple[int, ...], int] = {}
    uniform = []
    for i, (choice, document) in enumerate(zip(choices, batch.to_dicts(), strict=True)):
        channel_key = tuple(v for k, v in choice.items() if k.endswith(("/in", "/out")))
        rank = ranks.setdefault(channel_key, len(ranks))
        bits = sorted({choice[k] for k in wbits_keys})
        trial = evaluated.get(hashes[i])
        values = {k: float(v[i]) for k, v in metrics.items()}
        if trial is not None:
            values.update({k: float(v) for k, v in trial.metrics.items()})
        uniform.append({
            "label": f"uniform r{rank} {'/'.join(map(str, bits))}b",
            "rank": rank, "weight_bits": bits[-1] if bits else None,
            "trial": None if trial is None else trial.number,
            "metrics": values, "design": document})
    return References.model_validate({"dense": dense, "uniform": uniform})


def history_document(url: str, row: results.StudyRow) -> list[HistoryPoint]:
    """The study's counters after each stored batch, oldest first (hypervolume over trials)."""
    return [history_point(p) for p in results.progress_history(url, row.id)]
