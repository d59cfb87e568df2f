"""Accuracy evaluators: the proxies of ``epim.proxy`` wired into the search (picklable)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from epim.search._spec import AccuracySpec


@dataclass(frozen=True)
class ProxyAccuracy:
    """Scores a design with the spec's proxy; runs in an executor (a Ray task or in-process).

    Attributes:
        spec: The study's accuracy settings.
        threads: torch threads per evaluation (the executor's CPUs per trial).
        data_root: The directory behind ``spec.data_root`` (resolved by the service from the
            operator's named roots; ``None``: the dataset's default location).

    """

    spec: AccuracySpec
    threads: int = 1
    data_root: Path | None = None

    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> float:
        """Return the proxy accuracy (train) or score (synflow, naswot) of a design."""
        from epim.proxy import ProxyConfig, train_proxy, zero_cost_scores
        from epim.space import design_from_dict
        from epim.workloads import network_from_dict

        network_dict, design_dict = job
        network = network_from_dict(network_dict)
        design = design_from_dict(design_dict, network)
        s = self.spec
        config = ProxyConfig(dataset=s.dataset,
                             data_root=None if self.data_root is None else str(self.data_root),
                             steps=s.steps, batch_size=s.batch_size, lr=s.lr, seed=s.seed,
                             threads=self.threads, width=s.width, image_size=s.image_size,
                             train_samples=s.train_samples, eval_samples=s.eval_samples,
                             pretrain_steps=s.pretrain_steps)
        if s.proxy == "train":
            return train_proxy(network, design, config).accuracy
        return zero_cost_scores(network, design, config)[s.proxy]
