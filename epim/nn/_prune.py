"""Pruning masks: which weights a design's pruning fields remove, chosen by magnitude.

Semantics: ``epim.space._prune``. Masks are chosen from the weights a model holds when
asked (:meth:`epim.nn.EpimNet.select_pruning`: the proxy asks after loading the dense start):
channel pruning keeps the ``prune_out`` filters of largest L1 norm and removes the matching
input channels of the one layer that reads them; crossbar-aware pruning (PIM-Prune, Chu et
al., DAC 2020) views the weight as the mapped matrix (``Cin * kh * kw`` rows, ``Cout``
columns), cuts it into ``tile = (rows, columns)`` blocks, and keeps in every column block the
``prune_rows`` rows of largest L1 norm there (in every row block the ``prune_cols`` columns).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from epim.space import Design, prunable_consumers
from epim.workloads import Network


@torch.no_grad()
def pruning_masks(network: Network, design: Design, weights: Mapping[str, torch.Tensor],
                  tiles: Mapping[str, tuple[int, int]]) -> dict[str, torch.Tensor]:
    """0/1 masks (each weight's shape) of the layers that pruning touches.

    Args:
        network: The network the design is for.
        design: The design (its pruning fields).
        weights: Layer name -> its current (unmasked) weight ``W``.
        tiles: Layer name -> the crossbar tile ``(rows, columns)`` of its mapped matrix.

    Returns:
        Layer name -> mask, for the layers with a pruning field set or reading a
        channel-pruned layer.

    """
    masks: dict[str, torch.Tensor] = {}

    def mask_of(name: str) -> torch.Tensor:
        if name not in masks:
            masks[name] = torch.ones_like(weights[name])
        return masks[name]

    for producer, consumer in prunable_consumers(network).items():
        keep = design.layers[producer].prune_out
        weight = weights[producer]
        if not keep or keep >= weight.shape[0]:
            continue
        norms = weight.abs().flatten(1).sum(dim=1)
        dropped = torch.ones(weight.shape[0], dtype=torch.bool, device=weight.device)
        dropped[torch.topk(norms, keep, sorted=False).indices] = False
        mask_of(producer)[dropped] = 0
        inputs = mask_of(consumer)
        inputs.view(inputs.shape[0], weight.shape[0], -1)[:, dropped] = 0
    for name, choice in design.layers.items():
        if not (choice.prune_rows or choice.prune_cols):
            continue
        mask = mask_of(name)
        matrix = (weights[name] * mask).flatten(1).t()  # [rows, columns], a view of W's order
        keep_mask = mask.flatten(1).t()
        block_rows, block_cols = tiles[name]
        if choice.prune_rows:
            _keep_per_block(matrix, keep_mask, choice.prune_rows, block_cols, along_rows=True)
        else:
            _keep_per_block(matrix, keep_mask, choice.prune_cols, block_rows, along_rows=False)
    return masks


def _keep_per_block(matrix: torch.Tensor, keep_mask: torch.Tensor, keep: int, block: int, *,
                    along_rows: bool) -> None:
    """Keep the ``keep`` largest rows of each column block (or columns of each row block).

    By L1 norm within the block; zeroes ``keep_mask`` (a view of the mask) in place.
    """
    size = matrix.shape[1] if along_rows else matrix.shape[0]
    for start in range(0, size, block):
        if along_rows:
            part, part_mask = matrix[:, start:start + block], keep_mask[:, start:start + block]
            scores, live = part.abs().sum(dim=1), part_mask.amax(dim=1) > 0
        else:
            part, part_mask = matrix[start:start + block], keep_mask[start:start + block]
            scores, live = part.abs().sum(dim=0), part_mask.amax(dim=0) > 0
        count = min(keep, int(live.sum()))
        # live lines first (a pruned input channel's rows are dead already), then magnitude
        ranked = torch.where(live, scores, torch.full_like(scores, -1.0))
        dropped = torch.ones_like(live)
        dropped[torch.topk(ranked, count, sorted=False).indices] = False
        if along_rows:
            part_mask[dropped] = 0
        else:
            part_mask[:, dropped] = 0
