"""The ``train`` proxy with hardware effects: ideal top-1 and top-1 on the design's crossbars.

:func:`train_robust` trains a design's proxy exactly as :func:`~epim.proxy.train_proxy` does
(same start, batches and schedule; weights kept to the levels a +/- pair stores when the
hardware's cells are paired), measures its ideal top-1, optionally fine-tunes it with the
crossbars in the loop (``finetune_hardware``), and scores it on the crossbars over ``K``
device samples (``robust_accuracy``: mean and 5th percentile). The crossbars are the design's
own hardware: the study's preset with the design's hardware genes applied
(``Hardware.with_overrides``, as ``CostModel.variant`` does), read by ``crossbar_spec``, with
the :class:`HardwareEffects` overrides of variation and stuck-at rates.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from torch import nn

from epim.cost_model import Hardware
from epim.datasets import ArrayDataset, load_cached_dataset
from epim.errors import InputError
from epim.nn import CrossbarSpec, EpimNet, pair_weight_levels
from epim.nn._crossbar import AdcRange
from epim.proxy._cache import ResultCache
from epim.proxy._hardware import (
    CALIBRATION_IMAGES,
    crossbar_spec,
    finetune_hardware,
    robust_accuracy,
)
from epim.proxy._train import (
    DenseStart,
    ProxyConfig,
    _fit,
    binomial_se,
    dense_start,
    dense_start_key,
    distillation_teacher,
    eval_images,
    evaluate,
    proxy_device,
    proxy_key,
    start_model,
    torch_threads,
    training_steps,
)
from epim.space import Design
from epim.workloads import Network


@dataclass(frozen=True)
class HardwareEffects:
    """How a design's accuracy feels its crossbars (``accuracy.hardware_effects`` of a study).

    Attributes:
        samples: Device samples ``K`` (conductance variation and stuck cells drawn per sample,
            seeds ``seed .. seed + K - 1``; one evaluation for ideal cells).
        finetune_steps: Hardware-aware fine-tuning steps after the proxy's training (0: none).
        finetune_lr: Peak learning rate of that fine-tuning.
        adc_range: ADC range rule, ``calibrated`` (from calibration images) or ``full``.
        adc_percentile: The calibrated range is this percentile of ``|partial sum|``.
        variation: Relative conductance sigma (``None``: the hardware's ``cell_variation``).
        stuck_on: Fraction of cells stuck at LRS (``None``: ``cell_stuck_on_rate``).
        stuck_off: Fraction of cells stuck at HRS (``None``: ``cell_stuck_off_rate``).
        calibration_images: Training images the input and ADC ranges are calibrated on.

    """

    samples: int = 4
    finetune_steps: int = 0
    finetune_lr: float = 0.01
    adc_range: AdcRange = "calibrated"
    adc_percentile: float = 100.0
    variation: float | None = None
    stuck_on: float | None = None
    stuck_off: float | None = None
    calibration_images: int = CALIBRATION_IMAGES

    def __post_init__(self) -> None:
        for name, low in (("samples", 1), ("finetune_steps", 0), ("calibration_images", 1)):
            if getattr(self, name) < low:
                raise InputError(f"bad value {getattr(self, name)!r}", field=name,
                                 expected=f"an integer >= {low}")
        if not self.finetune_lr > 0:
            raise InputError(f"bad value {self.finetune_lr!r}", field="finetune_lr",
                             expected="a number > 0")

    def crossbars(self, hardware: Hardware) -> CrossbarSpec:
        """The crossbar-faithful pass's view of ``hardware`` with these overrides.

        Raises:
            InputError: If an override is out of range (naming it).

        """
        spec = crossbar_spec(hardware, adc_range=self.adc_range,
                             adc_percentile=self.adc_percentile)
        return replace(
            spec, variation=spec.variation if self.variation is None else self.variation,
            stuck_on=spec.stuck_on if self.stuck_on is None else self.stuck_on,
            stuck_off=spec.stuck_off if self.stuck_off is None else self.stuck_off)


def design_hardware(hardware: Hardware, genes: Mapping[str, int]) -> Hardware:
    """``hardware`` with a design's hardware genes applied (``Hardware.with_genes``).

    The rule of ``CostModel.variant``, so the crossbars an accuracy sees are the ones the
    design is costed on.

    Raises:
        PresetError: If a gene's value does not fit the preset (naming the gene).

    """
    return hardware.with_genes(genes)


@dataclass(frozen=True)
class RobustResult:
    """A design's proxy accuracy, ideal and on its crossbars.

    Attributes:
        accuracy: Top-1 of the ideal (quantized) proxy on the held-out split (0..1).
        accuracy_se: Binomial standard error of ``accuracy`` (``binomial_se``).
        robust_accuracy: Mean top-1 on the crossbars over the device samples (0..1).
        robust_accuracy_p5: 5th percentile of that top-1 over the samples (0..1).
        loss: Mean training loss over the last tenth of the proxy's steps.
        steps: The proxy's optimizer steps (fine-tuning not included).
        seconds: Wall-clock time (s; 0 when it came from the cache).
        key: The cache key (:func:`robust_key`).
        crossbars: The crossbar hardware it was scored on.
        cached: Whether the result came from the cache.
        error: Why the design failed (its training diverged), else ``None``; the accuracies
            are then NaN.

    """

    accuracy: float
    accuracy_se: float
    robust_accuracy: float
    robust_accuracy_p5: float
    loss: float
    steps: int
    seconds: float
    key: str
    crossbars: CrossbarSpec
    cached: bool = False
    error: str | None = None

    def metrics(self) -> dict[str, Any]:
        """``{accuracy, accuracy_se, robust_accuracy, robust_accuracy_p5, error}``."""
        return {"accuracy": self.accuracy, "accuracy_se": self.accuracy_se,
                "robust_accuracy": self.robust_accuracy,
                "robust_accuracy_p5": self.robust_accuracy_p5, "error": self.error}


def robust_key(network: Network, design: Design, config: ProxyConfig, crossbars: CrossbarSpec,
               effects: HardwareEffects) -> str:
    """Cache key: the proxy's key without the hardware genes, the crossbars and the effects.

    The genes enter through ``crossbars`` (everything of the hardware the accuracy depends
    on), so designs that differ only in genes the accuracy cannot see (PEs per tile, ...)
    share a result, and designs on different crossbars never do.
    """
    plain = Design(network=design.network, layers=design.layers)
    payload = json.dumps({"proxy": proxy_key(network, plain, config, kind="robust"),
                          "crossbars": asdict(crossbars), "effects": asdict(effects)},
                         sort_keys=True)
    return f"robust-{plain.digest()}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


def train_robust(network: Network, design: Design, config: ProxyConfig, hardware: Hardware,
                 effects: HardwareEffects, *, start: DenseStart | None = None,
                 cache: ResultCache | None = None) -> RobustResult:
    """Train the proxy of ``design`` and score it ideally and on its own crossbars.

    Args:
        network: The study's network.
        design: The design (its hardware genes pick its crossbars).
        config: Proxy settings, as :func:`~epim.proxy.train_proxy`.
        hardware: The study's hardware (preset with ``hardware.set``), before the genes.
        effects: Device samples, fine-tuning, ADC range rule and device overrides.
        start: The dense start to fine-tune from (default: trained here once per process
            when ``config.pretrain_steps > 0``).
        cache: Where results are looked up and stored (:func:`robust_key`).

    Raises:
        InputError: On bad settings, missing data, a start of another configuration, or a
            layer the crossbars cannot map.
        PresetError: If a gene does not fit the preset.

    """
    crossbars = effects.crossbars(design_hardware(hardware, design.hardware))
    key = robust_key(network, design, config, crossbars, effects)
    if cache is not None and (hit := cache.get(key)) is not None:
        return RobustResult(**{**hit, "crossbars": crossbars, "seconds": 0.0, "cached": True})
    if start is not None and start.key != dense_start_key(network, config):
        raise InputError("the dense start belongs to another configuration", field="start",
                         expected="the start of this network and proxy configuration")
    began = time.perf_counter()
    data = load_cached_dataset(config.dataset, config.data_root)
    if start is None and config.has_start:
        start = dense_start(network, config, data)
    with torch_threads(config.threads):
        model, loss, steps, accuracy = _trained(network, design, config, data, start,
                                                paired=crossbars.polarity == 2)
        if not math.isfinite(loss):
            nan = math.nan
            return RobustResult(nan, nan, nan, nan, loss, steps, time.perf_counter() - began,
                                key, crossbars, error="diverged: the training loss stopped "
                                "being finite")
        scored: nn.Module = model
        if effects.finetune_steps:
            scored = finetune_hardware(model, data, config, crossbars,
                                       steps=effects.finetune_steps, lr=effects.finetune_lr,
                                       calibration_images=effects.calibration_images)
        robust = robust_accuracy(scored, data, config, crossbars, samples=effects.samples,
                                 seed=config.seed,
                                 calibration_images=effects.calibration_images)
    result = RobustResult(accuracy=accuracy,
                          accuracy_se=binomial_se(accuracy, eval_images(data, config)),
                          robust_accuracy=robust.mean, robust_accuracy_p5=robust.p5,
                          loss=loss, steps=steps, seconds=time.perf_counter() - began, key=key,
                          crossbars=crossbars)
    if cache is not None:
        cache.put(key, {k: v for k, v in asdict(result).items()
                        if k not in ("cached", "crossbars")})
    return result


#: Trained proxies of this process (model, loss, steps, ideal top-1), most recent last: the
#: designs of a co-search that differ only in hardware genes (ADC, crossbar size, ...) train
#: the same proxy, so it is trained once and scored on each design's crossbars.
_TRAINED: OrderedDict[str, tuple[EpimNet, float, int, float]] = OrderedDict()
_KEEP_TRAINED = 8
_TRAINED_LOCK = threading.Lock()


def forget_trained() -> None:
    """Drop the trained proxies this process keeps (a benchmark's runs start alike)."""
    with _TRAINED_LOCK:
        _TRAINED.clear()


def _trained(network: Network, design: Design, config: ProxyConfig, data: ArrayDataset,
             start: DenseStart | None, *, paired: bool) -> tuple[EpimNet, float, int, float]:
    """The design's proxy trained as ``train_proxy`` does: ``(model, loss, steps, top-1)``.

    ``paired``: weights kept to the levels a +/- pair stores (``pair_weight_levels``). The
    model is shared with later calls: callers must not change it (``crossbar_model`` and
    ``finetune_hardware`` work on copies).
    """
    plain = Design(network=design.network, layers=design.layers)
    key = f"{proxy_key(network, plain, config, kind='robust')}-{paired}"
    with _TRAINED_LOCK:
        hit = _TRAINED.get(key)
        if hit is not None:
            _TRAINED.move_to_end(key)
            return hit
    device = proxy_device(config)
    model = start_model(network, plain, config, data, start).to(device)
    if paired:
        pair_weight_levels(model)  # a +/- pair cannot store -2^(b-1)
    steps = training_steps(config, data)
    loss = _fit(model, config, data, steps=steps,
                teacher=distillation_teacher(network, config, data, start, device))
    accuracy = evaluate(model, data, config) if math.isfinite(loss) else math.nan
    entry = (model, loss, steps, accuracy)
    with _TRAINED_LOCK:
        _TRAINED[key] = entry
        while len(_TRAINED) > _KEEP_TRAINED:
            _TRAINED.popitem(last=False)
    return entry
