"""The ``train`` proxy for many designs at once: one stacked model per chunk of designs.

:func:`train_proxies` gives each design the result :func:`~epim.proxy.train_proxy` would (same
start, same mini-batches, same optimizer, schedule and per-design gradient clipping; float
rounding aside) but trains a chunk of designs as one :class:`~epim.nn.StackedNet`, so the
small convolutions of a proxy become grouped convolutions that use the core. Every design of
a chunk sees the same mini-batches from the same dense start (common random numbers), so
differences between designs are not differences between data orders. A design whose loss or
gradient stops being finite fails alone (its result says so); the others go on.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, replace

import torch
import torch.nn.functional as F  # noqa: N812

from epim.datasets import ArrayDataset, load_cached_dataset
from epim.errors import InputError
from epim.nn import EpimNet, StackedNet, stackable
from epim.proxy._cache import ResultCache
from epim.proxy._train import (
    DenseStart,
    ProxyConfig,
    ProxyResult,
    binomial_se,
    dense_start,
    dense_start_key,
    distillation_teacher,
    minibatches,
    proxy_device,
    proxy_key,
    resize,
    start_model,
    torch_threads,
    train_proxy,
    training_steps,
)
from epim.space import Design
from epim.workloads import Network, proxy_memory, scale_network

#: Memory one chunk may use when ``EPIM_MAX_PROXY_BYTES`` is not set (bytes).
DEFAULT_CHUNK_BYTES = 2 * 2**30
#: Most designs trained as one model (beyond this the per-design speed-up is flat).
MAX_CHUNK = 64
#: Held-out images times designs per evaluation batch (about 2,000 images of one design, the
#: size that keeps every layer's outputs of a small proxy in cache-sized memory).
EVAL_IMAGES = 2048
#: Gradient norm each design's gradient is clipped to (as ``train_proxy``).
CLIP_NORM = 5.0


def chunk_size(network: Network, config: ProxyConfig, data: ArrayDataset,
               budget: int | None = None) -> int:
    """How many designs one chunk trains together within a memory budget.

    The budget (bytes) defaults to ``EPIM_MAX_PROXY_BYTES`` (else :data:`DEFAULT_CHUNK_BYTES`);
    a design's share is the estimate of ``epim.workloads.proxy_memory`` of the scaled proxy
    at the training batch. At least 1, at most :data:`MAX_CHUNK`.
    """
    if budget is None:
        budget = int(os.environ.get("EPIM_MAX_PROXY_BYTES", DEFAULT_CHUNK_BYTES))
    channels, height, _ = data.input_shape
    scaled = scale_network(network, width=config.width, image_size=config.image_size or height,
                           in_channels=channels, num_classes=data.num_classes)
    per_design = proxy_memory(scaled).training(config.batch_size)
    return max(1, min(MAX_CHUNK, budget // max(1, per_design)))


def train_proxies(network: Network, designs: Sequence[Design],
                  config: ProxyConfig | None = None, *, start: DenseStart | None = None,
                  cache: ResultCache | None = None, chunk: int | None = None
                  ) -> list[ProxyResult]:
    """Train the proxies of many designs together; one result per design, in input order.

    Args:
        network: The study's network.
        designs: The designs to score (any number; chunked).
        config: Proxy settings (default ``ProxyConfig()``), as :func:`train_proxy`.
        start: The dense start every design fine-tunes from (default: trained here once per
            process when ``config.pretrain_steps > 0``).
        cache: Where results are looked up and stored, per design (as :func:`train_proxy`).
        chunk: Designs per stacked model (default: :func:`chunk_size`).

    A design whose model :class:`~epim.nn.StackedNet` cannot reproduce (``stackable`` is
    false), or the only stackable design of its chunk, is trained alone by
    :func:`train_proxy` (a stack of one gains nothing and would compile the fused kernels
    once more for its size-1 design dimension). A result's ``seconds`` is its chunk's
    time divided by the chunk's designs.

    Raises:
        InputError: On bad settings, missing data, or a start of another configuration.

    """
    config = config or ProxyConfig()
    if start is not None and start.key != dense_start_key(network, config):
        raise InputError("the dense start belongs to another configuration", field="start",
                         expected="the start of this network and proxy configuration")
    if chunk is not None and chunk < 1:
        raise InputError(f"bad value {chunk!r}", field="chunk", expected="an integer >= 1")
    results: list[ProxyResult | None] = [None] * len(designs)
    keys = [proxy_key(network, design, config) for design in designs]
    todo: list[int] = []
    for i, key in enumerate(keys):
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            results[i] = ProxyResult(**{**hit, "seconds": 0.0, "cached": True})
        else:
            todo.append(i)
    if todo:
        data = load_cached_dataset(config.dataset, config.data_root)
        if start is None and config.pretrain_steps > 0:
            start = dense_start(network, config, data)
        size = chunk or chunk_size(network, config, data)
        with torch_threads(config.threads):
            for first in range(0, len(todo), size):
                part = todo[first:first + size]
                for i, result in zip(part, _train_chunk(network, [designs[i] for i in part],
                                                        config, data, start), strict=True):
                    if result is None:  # not stackable: the per-design path
                        result = train_proxy(network, designs[i], config, start=start)
                    result = replace(result, key=keys[i])
                    results[i] = result
                    if cache is not None and result.error is None:
                        cache.put(keys[i], {k: v for k, v in asdict(result).items()
                                            if k != "cached"})
    return [r for r in results if r is not None]


def _train_chunk(network: Network, designs: Sequence[Design], config: ProxyConfig,
                 data: ArrayDataset, start: DenseStart | None) -> list[ProxyResult | None]:
    """Results of one chunk (``None`` for a design that cannot be stacked)."""
    began = time.perf_counter()
    device = proxy_device(config)
    models = [start_model(network, design, config, data, start).to(device)
              for design in designs]
    fits = [i for i, model in enumerate(models) if stackable(model)]
    out: list[ProxyResult | None] = [None] * len(designs)
    if len(fits) < 2:  # one design gains nothing from stacking: the per-design path
        return out
    teacher = distillation_teacher(network, config, data, start, device)
    steps = training_steps(config, data)
    trained = train_stacked([models[i] for i in fits], config, data, steps=steps,
                            teacher=teacher)
    seconds = (time.perf_counter() - began) / len(fits)
    for i, (accuracy, se, loss, error) in zip(fits, trained, strict=True):
        out[i] = ProxyResult(accuracy=accuracy, loss=loss, steps=steps, seconds=seconds,
                             key="", accuracy_se=se, error=error)
    return out


def train_stacked(models: list[EpimNet], config: ProxyConfig, data: ArrayDataset, *,
                  steps: int, teacher: torch.nn.Module | None = None, tune: bool = False
                  ) -> list[tuple[float, float, float, str | None]]:
    """Train ``models`` (stackable, one network) together.

    Returns per model ``(accuracy, accuracy_se, loss, error)``.

    The loop of ``train_proxy``'s ``_fit`` for every model at once: SGD (Nesterov, cosine
    schedule), each model's gradient clipped to norm :data:`CLIP_NORM` on its own, the same
    mini-batches for all. ``loss`` is the mean over the last tenth of the steps; ``error`` is
    ``None``, or why the model failed (its accuracy is then NaN). ``tune``: time the
    convolution formulations here (``StackedNet``).
    """
    net = StackedNet(models, tune=tune)
    n = net.n
    device = next(net.parameters()).device
    owned = net.owners()
    params = [p for p, _ in owned]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=0.9, nesterov=True,
                                weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    failed = torch.zeros(n, dtype=torch.bool, device=device)
    losses: list[torch.Tensor] = []
    net.train()
    for x, y in minibatches(config, data, steps, device):
        logits = net(x)                                              # (B, N, classes)
        loss = F.cross_entropy(logits.transpose(1, 2), y.unsqueeze(1).expand(-1, n),
                               reduction="none").mean(dim=0)         # (N,)
        if teacher is not None:
            with torch.no_grad():
                target = teacher(x).log_softmax(dim=1).unsqueeze(1)  # (B, 1, classes)
            log_p = logits.log_softmax(dim=2)
            loss = loss + config.distill * (target.exp() * (target - log_p)).sum(dim=2).mean(0)
        failed |= ~torch.isfinite(loss.detach())
        optimizer.zero_grad(set_to_none=True)
        torch.where(failed, 0.0, loss).sum().backward()  # type: ignore[no-untyped-call]
        _clip_per_design(owned, n, failed)
        optimizer.step()
        schedule.step()
        losses.append(loss.detach())
    tail = torch.stack(losses[-max(1, len(losses) // 10):]).mean(dim=0)
    accuracy, counted = evaluate_stacked(net, data, config)
    out: list[tuple[float, float, float, str | None]] = []
    for i in range(n):
        if bool(failed[i]) or not math.isfinite(float(tail[i])):
            out.append((math.nan, math.nan, float(tail[i]), "diverged: the training loss or "
                        "gradient stopped being finite"))
        else:
            a = float(accuracy[i])
            out.append((a, binomial_se(a, counted), float(tail[i]), None))
    return out


@torch.no_grad()
def _clip_per_design(owned: list[tuple[torch.nn.Parameter, torch.Tensor]], n: int,
                     failed: torch.Tensor) -> None:
    """Clip each design's gradient to :data:`CLIP_NORM` (``clip_grad_norm_`` per design).

    A design whose gradient is not finite is marked failed and its gradient zeroed.
    """
    squares = torch.zeros(n, device=failed.device)
    for param, owner in owned:
        if param.grad is not None:
            squares.index_add_(0, owner, param.grad.pow(2))
    norm = squares.sqrt()
    failed |= ~torch.isfinite(norm)
    coefficient = torch.where(failed, 0.0, (CLIP_NORM / (norm + 1e-6)).clamp(max=1.0))
    for param, owner in owned:
        if param.grad is not None:
            grad = torch.where(failed[owner], 0.0, param.grad)
            param.grad.copy_(grad * coefficient[owner])


@torch.no_grad()
def evaluate_stacked(net: StackedNet, data: ArrayDataset, config: ProxyConfig
                     ) -> tuple[torch.Tensor, int]:
    """Top-1 of every stacked design on the held-out split (the first ``eval_samples``).

    Returns the accuracies (N,) and the number of images.
    """
    net.eval()
    limit = len(data.y_test) if config.eval_samples is None else config.eval_samples
    device = next(net.parameters()).device
    x_test = torch.from_numpy(data.x_test[:limit]).to(device)
    y_test = torch.from_numpy(data.y_test[:limit]).to(device)
    correct = torch.zeros(net.n, dtype=torch.long, device=device)
    batch = max(16, EVAL_IMAGES // net.n)
    for first in range(0, len(y_test), batch):
        x = resize(x_test[first:first + batch], config.image_size)
        hits = net(x).argmax(dim=2) == y_test[first:first + batch].unsqueeze(1)
        correct += hits.sum(dim=0)
    count = max(1, len(y_test))
    return correct.double() / count, len(y_test)
