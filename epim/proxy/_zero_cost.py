"""Zero-cost proxies on the epitomized network: SynFlow and a NASWOT activation-pattern score.

- SynFlow (Tanaka et al., NeurIPS 2020; as a NAS proxy: Abdelfattah et al., ICLR 2021):
  with every parameter replaced by its absolute value and an all-ones input, the score is
  ``sum |theta * dR/dtheta|`` over the epitome parameters, ``R`` the summed output. Reported as
  ``log(score)``.
- NASWOT (Mellor et al., ICML 2021): binary ReLU patterns ``c_i`` of a minibatch, kernel
  ``K = C C^T + (1-C)(1-C)^T``; the score is ``log|det K|``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from epim.datasets import ArrayDataset, load_cached_dataset
from epim.nn import ComputeBlock, EpimNet
from epim.proxy._train import ProxyConfig, proxy_model, resize, torch_threads
from epim.space import Design
from epim.workloads import Network


def synflow_score(model: EpimNet, input_shape: tuple[int, int, int]) -> float:
    """``log`` of the SynFlow saliency of ``model``'s epitomes (float64, BN in eval mode)."""
    model = model.double().eval()
    signs = {}
    with torch.no_grad():
        for name, param in model.state_dict().items():
            if param.is_floating_point():
                signs[name] = torch.sign(param)
                param.abs_()
    model.zero_grad()
    output = model(torch.ones((1, *input_shape), dtype=torch.float64))
    output.sum().backward()
    total = 0.0
    for name, param in model.named_parameters():
        if name.endswith("epitome") and param.grad is not None:
            total += float((param * param.grad).detach().abs().sum())
    with torch.no_grad():
        for name, param in model.state_dict().items():
            if name in signs:
                param.mul_(signs[name])
    return math.log(total) if total > 0 else float("-inf")


@torch.no_grad()
def naswot_score(model: EpimNet, images: torch.Tensor) -> float:
    """``log|det K|`` of the ReLU activation-pattern kernel over ``images``."""
    model.eval()
    codes: list[torch.Tensor] = []

    def hook(module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> None:
        if isinstance(module, ComputeBlock) and module.relu:
            codes.append((output > 0).flatten(1).double())

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, ComputeBlock)]
    try:
        model(images)
    finally:
        for handle in handles:
            handle.remove()
    if not codes:
        return 0.0
    c = torch.cat(codes, dim=1)
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) != 0 else float("-inf")


def zero_cost_scores(network: Network, design: Design, config: ProxyConfig | None = None,
                     *, batch: int = 64) -> dict[str, float]:
    """SynFlow and NASWOT of the design's proxy network (same scaling as the train proxy)."""
    config = config or ProxyConfig()
    data: ArrayDataset = load_cached_dataset(config.dataset, config.data_root)
    with torch_threads(config.threads):
        torch.manual_seed(config.seed)
        images = torch.from_numpy(data.x_train[np.random.default_rng(config.seed).choice(
            len(data.y_train), size=min(batch, len(data.y_train)), replace=False)])
        images = resize(images, config.image_size)
        model = proxy_model(network, design, config, data)
        with torch.no_grad():  # initialize the quantizers' steps on real data
            model.train()
            model(images)
        naswot = naswot_score(model, images)
        synflow = synflow_score(model, tuple(images.shape[1:]))  # type: ignore[arg-type]
    return {"synflow": synflow, "naswot": naswot}
