"""Accuracy evaluators: the proxies of ``epim.proxy`` wired into the search (picklable)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from epim.cost_model import Hardware
from epim.search._spec import AccuracySpec

_STARTS: dict[str, Any] = {}


class _RecentResults:
    """The most recent results of this process (an ``epim.proxy.ResultCache``, bounded)."""

    def __init__(self, keep: int) -> None:
        self._data: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored result for ``key``, or ``None``."""
        with self._lock:
            value = self._data.get(key)
            if value is None:
                return None
            self._data.move_to_end(key)
            return dict(value)

    def clear(self) -> None:
        """Drop every result."""
        with self._lock:
            self._data.clear()

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` (the oldest goes beyond ``keep``)."""
        with self._lock:
            self._data[key] = dict(value)
            self._data.move_to_end(key)
            while len(self._data) > self._keep:
                self._data.popitem(last=False)


#: Results with hardware effects in this process, by ``epim.proxy.robust_key``: designs that
#: differ only in hardware genes the accuracy cannot see (PEs per tile, ...) train once.
_RECENT = _RecentResults(keep=4096)


def forget_results() -> None:
    """Drop the results and trained proxies with hardware effects this process keeps."""
    from epim.proxy import forget_trained

    _RECENT.clear()
    forget_trained()


@dataclass(frozen=True)
class ProxyAccuracy:
    """Scores a design with the spec's proxy; runs in an executor (a Ray task or in-process).

    A :class:`~epim.search.TrainingProxy` for ``proxy: train``: it pretrains the dense start
    (once, on an executor), fine-tunes every design from the start it carries, trains at
    another fidelity for screening rungs, and measures single-layer probes for the profile.

    With ``spec.hardware_effects`` every design is also scored on its own crossbars (the
    study's ``hardware`` with the design's genes applied, ``epim.proxy.train_robust``): a
    result is then the dict ``{"accuracy", "accuracy_se", "robust_accuracy",
    "robust_accuracy_p5", "error"}`` (from :meth:`__call__` and :meth:`evaluate_many` alike),
    except at a screening rung, which ranks designs by one number: ``robust_accuracy``.

    Attributes:
        spec: The study's accuracy settings.
        threads: torch threads per evaluation (the executor's CPUs per trial).
        data_root: The directory behind ``spec.data_root`` (resolved by the service from the
            operator's named roots; ``None``: the dataset's default location).
        checkpoint: The file behind ``spec.checkpoint`` (resolved by the service from the
            operator's named checkpoints), the dense start's pretrained weights.
        start: The dense start (``DenseStart.to_bytes``) every design fine-tunes from.
        fidelity: Training steps, when not the spec's (a screening rung).
        hardware: The study's hardware (preset with ``hardware.set``), before any design's
            genes: needed with ``spec.hardware_effects`` (:meth:`for_hardware`; the study
            driver binds it).

    """

    spec: AccuracySpec
    threads: int = 1
    data_root: Path | None = None
    checkpoint: Path | None = None
    start: bytes | None = None
    fidelity: int | None = None
    hardware: Hardware | None = None

    @property
    def steps(self) -> int:
        """The training steps this evaluator runs."""
        return self.fidelity if self.fidelity is not None else self.spec.steps

    def __call__(self, job: tuple[dict[str, Any], dict[str, Any]]) -> float | dict[str, Any]:
        """The proxy accuracy (train) or score (synflow, naswot) of a design.

        With hardware effects: the dict of :meth:`evaluate_many` (a float at a screening
        rung, the robust accuracy). A design whose training diverged raises.
        """
        from epim.proxy import train_proxy, zero_cost_scores
        from epim.space import design_from_dict
        from epim.workloads import network_from_dict

        network_dict, design_dict = job
        if self.spec.hardware_effects is not None:
            result = self._robust([job])[0]
            if result["error"] is not None:
                raise RuntimeError(result["error"])
            return result if self.fidelity is None else float(result["robust_accuracy"])
        network = network_from_dict(network_dict)
        design = design_from_dict(design_dict, network)
        if self.spec.proxy == "train":
            return train_proxy(network, design, self.config(),
                               start=self._dense_start()).accuracy
        return zero_cost_scores(network, design, self.config())[self.spec.proxy]

    def evaluate_many(self, jobs: Sequence[tuple[dict[str, Any], dict[str, Any]]]
                      ) -> list[dict[str, Any]]:
        """Score many designs of one network at once, in the order given.

        For ``proxy: train`` the designs train together (``epim.proxy.train_proxies``: one
        stacked model per memory-sized chunk, the same batches from the same dense start);
        each entry is ``{"accuracy", "accuracy_se", "error"}`` (``accuracy_se``: the binomial
        standard error over the held-out images; ``error``: why that design alone failed,
        else ``None``). Zero-cost proxies score one design at a time (``accuracy_se`` 0).
        With hardware effects each design trains on its own (the crossbars need each trained
        model) and its entry adds ``robust_accuracy`` and ``robust_accuracy_p5``.
        A driver may call this instead of mapping :meth:`__call__` over the designs.
        """
        from epim.proxy import train_proxies
        from epim.space import design_from_dict
        from epim.workloads import network_from_dict

        if not jobs:
            return []
        if self.spec.hardware_effects is not None:
            return self._robust(jobs)
        if self.spec.proxy != "train":
            return [{"accuracy": self(job), "accuracy_se": 0.0, "error": None} for job in jobs]
        network = network_from_dict(jobs[0][0])
        designs = [design_from_dict(design, network) for _, design in jobs]
        results = train_proxies(network, designs, self.config(), start=self._dense_start())
        return [{"accuracy": r.accuracy, "accuracy_se": r.accuracy_se, "error": r.error}
                for r in results]

    def for_hardware(self, hardware: Hardware) -> ProxyAccuracy:
        """A copy scoring hardware effects on ``hardware`` (the study's, before genes)."""
        return replace(self, hardware=hardware)

    def effects(self) -> Any:
        """The ``epim.proxy.HardwareEffects`` of ``spec.hardware_effects`` (``None``: off)."""
        from epim.proxy import HardwareEffects

        settings = self.spec.hardware_effects
        if settings is None:
            return None
        return HardwareEffects(**settings.model_dump())

    def crossbars(self, design: dict[str, Any]) -> Any:
        """The ``epim.nn.CrossbarSpec`` a design is scored on (its genes applied)."""
        from epim.proxy import design_hardware

        return self.effects().crossbars(design_hardware(self._hardware(),
                                                        design.get("hardware") or {}))

    def _robust(self, jobs: Sequence[tuple[dict[str, Any], dict[str, Any]]]
                ) -> list[dict[str, Any]]:
        """Ideal and crossbar accuracies of each design, trained one at a time."""
        from epim.proxy import train_robust
        from epim.space import design_from_dict
        from epim.workloads import network_from_dict

        hardware, effects, config = self._hardware(), self.effects(), self.config()
        network = network_from_dict(jobs[0][0])
        return [train_robust(network, design_from_dict(design, network), config, hardware,
                             effects, start=self._dense_start(), cache=_RECENT).metrics()
                for _, design in jobs]

    def _hardware(self) -> Hardware:
        if self.hardware is None:
            from epim.errors import InputError

            raise InputError("hardware effects need the study's hardware", field="hardware",
                             expected="an evaluator bound with for_hardware (the study "
                             "driver does it)")
        return self.hardware

    def config(self) -> Any:
        """The ``epim.proxy.ProxyConfig`` of these settings."""
        from epim.proxy import ProxyConfig

        s = self.spec
        return ProxyConfig(dataset=s.dataset,
                           data_root=None if self.data_root is None else str(self.data_root),
                           steps=self.steps, batch_size=s.batch_size, lr=s.lr, seed=s.seed,
                           threads=self.threads, width=s.width, image_size=s.image_size,
                           train_samples=s.train_samples, eval_samples=s.eval_samples,
                           pretrain_steps=s.pretrain_steps, distill=s.distill,
                           checkpoint=None if self.checkpoint is None
                           else str(self.checkpoint),
                           device=s.device)

    def pretrain(self, network: dict[str, Any]) -> bytes:
        """Train the dense start for this configuration; its serialized form."""
        from epim.proxy import dense_start
        from epim.workloads import network_from_dict

        return dense_start(network_from_dict(network), self.config()).to_bytes()

    def with_start(self, start: bytes) -> ProxyAccuracy:
        """A copy fine-tuning every design from ``start``."""
        return replace(self, start=start)

    def at_steps(self, steps: int) -> ProxyAccuracy:
        """A copy training ``steps`` steps (a screening rung)."""
        return replace(self, fidelity=steps)

    def profile(self, job: tuple[dict[str, Any], dict[str, Any], list[tuple[str, Any]],
                                 int, int]) -> list[tuple[float, float]]:
        """Calibration ``(loss, accuracy)`` of the reference design, then of every probe."""
        from epim.proxy import profile_layers
        from epim.space import LayerDesign, design_from_dict
        from epim.workloads import network_from_dict

        network_dict, reference_dict, probes, samples, steps = job
        network = network_from_dict(network_dict)
        reference = design_from_dict(reference_dict, network)
        result = profile_layers(network, reference,
                                [(name, LayerDesign(*choice)) for name, choice in probes],
                                self.config(), start=self._dense_start(), samples=samples,
                                steps=steps)
        return [(result.reference_loss, result.reference_accuracy),
                *zip(result.losses, result.accuracies, strict=True)]

    def start_key(self, network: dict[str, Any]) -> str:
        """The dense start's key: ``epim.proxy.dense_start_key`` (no device, no threads)."""
        from epim.proxy import dense_start_key
        from epim.workloads import network_from_dict

        return dense_start_key(network_from_dict(network), self.config())

    def profile_key(self, job: tuple[dict[str, Any], dict[str, Any], list[tuple[str, Any]],
                                     int, int]) -> str:
        """A :meth:`profile` job's key: ``epim.proxy.profile_key`` (no device, no threads)."""
        from epim.proxy import profile_key
        from epim.space import design_from_dict
        from epim.workloads import network_from_dict

        network_dict, reference, probes, samples, steps = job
        network = network_from_dict(network_dict)
        return profile_key(network, design_from_dict(reference, network), probes,
                           self.config(), samples=samples, steps=steps)

    def _dense_start(self) -> Any:
        """The start this evaluator carries, parsed once per process."""
        if self.start is None:
            return None
        from epim.proxy import DenseStart

        digest = hashlib.sha256(self.start).hexdigest()
        if digest not in _STARTS:
            _STARTS.clear()  # one study's start at a time per worker is plenty
            _STARTS[digest] = DenseStart.from_bytes(self.start)
        return _STARTS[digest]
