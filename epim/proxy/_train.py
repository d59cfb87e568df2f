"""The ``train`` proxy: short quantization-aware training and top-1 on a held-out split.

The proxy network is the study's network scaled down (``scale_network``) with the design's
epitome ratios and bit-widths carried over (``scale_design``), so the proxy measures the damage
the design does. Runs are deterministic for a seed and cached by design hash.
"""

from __future__ import annotations

import io
import math
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from epim.datasets import ArrayDataset, load_cached_dataset
from epim.errors import InputError
from epim.nn import (
    ComputeBlock,
    EpimNet,
    EpitomeConv2d,
    EpitomeLinear,
    build,
    load_checkpoint,
    read_checkpoint,
)
from epim.proxy._cache import ResultCache
from epim.proxy._keys import dense_start_key as dense_start_key  # re-exported: _batched
from epim.proxy._keys import proxy_key as proxy_key
from epim.space import DEFAULT_PRUNE_TILE, Design, scale_design, scaled_tile
from epim.workloads import Network, scale_network


@dataclass(frozen=True)
class ProxyConfig:
    """How a proxy network is built and trained.

    Attributes:
        dataset: ``fashion-mnist``, ``digits``, ``cifar10`` or ``imagefolder``.
        data_root: Directory of the dataset's files (see ``load_dataset``).
        steps: Optimizer steps (ignored when ``epochs`` is set). The defaults of ``steps``,
            ``lr`` and ``eval_samples`` are the study's (``AccuracySpec``), chosen in
            ``benchmarks/proxy_fidelity.py``.
        epochs: Passes over the training split, instead of ``steps``.
        batch_size: Images per step.
        lr: Peak learning rate of SGD with Nesterov momentum and a cosine schedule.
        weight_decay: L2 penalty.
        seed: Seeds initialization and batch order: equal seeds give equal results.
        threads: torch threads for this evaluation.
        width: Channel multiplier of the proxy network.
        image_size: Square input size (``None``: the dataset's own).
        train_samples: Use only the first N training images (``None``: all).
        eval_samples: Evaluate on the first N held-out images (``None``: all).
        quantize: Quantization-aware training at the design's bits (else float).
        pretrain_steps: Steps of the dense float proxy every design starts from (0: designs
            train from scratch). Trained once per configuration and shared (:class:`DenseStart`).
            Every default a study's ``accuracy`` settings share with this class is the same
            (300 here; ``tests/search/test_artifacts.py`` holds them equal).
        distill: Weight of the distillation term (KL divergence to the dense start's outputs)
            added to the cross-entropy (0: none; needs ``pretrain_steps``).
        checkpoint: A pretrained checkpoint file (``epim.nn.read_checkpoint``: tensors by
            layer name) the dense start begins from instead of random weights; it must fit
            the proxy network (``width``, ``image_size`` and the dataset's channels and
            classes scale the network). Resolved by the service from the operator's named
            checkpoints; part of the keys by content, not by path.
        device: Where to train and evaluate: ``auto`` (the CUDA device Ray or
            ``CUDA_VISIBLE_DEVICES`` assigned, when there is one; else the CPU), ``cpu`` or
            ``cuda``. Not part of the cache keys: it changes where, not what.

    """

    dataset: str = "fashion-mnist"
    data_root: str | None = None
    steps: int = 40
    epochs: int | None = None
    batch_size: int = 64
    lr: float = 0.02
    weight_decay: float = 5e-4
    seed: int = 0
    threads: int = 1
    width: float = 0.25
    image_size: int | None = None
    train_samples: int | None = None
    eval_samples: int | None = 2000
    quantize: bool = True
    pretrain_steps: int = 300
    distill: float = 0.0
    checkpoint: str | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise InputError(f"unknown device {self.device!r}", field="device",
                             expected="auto, cpu or cuda")
        for name in ("steps", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise InputError(f"bad value {getattr(self, name)!r}", field=name,
                                 expected="an integer >= 1")
        if self.pretrain_steps < 0:
            raise InputError(f"bad value {self.pretrain_steps!r}", field="pretrain_steps",
                             expected="an integer >= 0")
        if self.epochs is not None and self.epochs < 1:
            raise InputError(f"bad value {self.epochs!r}", field="epochs",
                             expected="an integer >= 1 or null")
        if not self.lr > 0 or not self.width > 0:
            raise InputError("lr and width must be positive", field="lr",
                             expected="numbers > 0")
        if not self.distill >= 0 or (self.distill > 0 and not self.has_start):
            raise InputError(f"bad value {self.distill!r}", field="distill",
                             expected="a number >= 0 (> 0 needs pretrain_steps or a "
                             "checkpoint)")

    @property
    def has_start(self) -> bool:
        """Whether designs fine-tune from a dense start (pretrained here or loaded)."""
        return self.pretrain_steps > 0 or self.checkpoint is not None


@dataclass(frozen=True)
class ProxyResult:
    """The outcome of one proxy evaluation.

    Attributes:
        accuracy: Top-1 on the held-out split (0..1).
        loss: Mean training loss over the last tenth of the steps.
        steps: Optimizer steps taken.
        seconds: Wall-clock time of the evaluation (s; 0 when it came from the cache).
        key: The cache key (design hash and configuration).
        cached: Whether the result came from the cache.
        accuracy_se: Binomial standard error of ``accuracy`` over the held-out images,
            ``sqrt(a (1 - a) / n)`` (0..1; NaN when the design failed).
        error: Why the design failed (its training diverged), else ``None``; its
            ``accuracy`` is then NaN.

    """

    accuracy: float
    loss: float
    steps: int
    seconds: float
    key: str
    cached: bool = field(default=False)
    accuracy_se: float = 0.0
    error: str | None = None


def binomial_se(accuracy: float, images: int) -> float:
    """Standard error of a top-1 measured on ``images`` held-out images: ``sqrt(a(1-a)/n)``.

    Each image is a Bernoulli trial with success probability ``accuracy``; the count of
    correct ones is binomial, so its mean has variance ``a (1 - a) / n``.
    """
    return math.sqrt(max(0.0, accuracy * (1.0 - accuracy)) / max(1, images))


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run a block with ``threads`` torch threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def proxy_network(network: Network, config: ProxyConfig, input_shape: tuple[int, int, int],
                  num_classes: int) -> Network:
    """The network the proxy trains: the study's, scaled to the data (``scale_network``).

    With a pretrained ``checkpoint`` the network is the user's own, unscaled: its weights
    belong to its shapes and its stem, so it must already take the dataset's images and give
    its classes, at ``width`` 1.

    Raises:
        InputError: With a checkpoint, naming what does not fit (``width``, ``image_size``
            or ``checkpoint``).

    """
    channels, height, _ = input_shape
    size = config.image_size or height
    if config.checkpoint is None:
        return scale_network(network, width=config.width, image_size=size,
                             in_channels=channels, num_classes=num_classes)
    if config.width != 1:
        raise InputError(f"width {config.width} would rescale the pretrained layers",
                         field="width", expected="1 with a checkpoint")
    wanted = (channels, size, size)
    if tuple(network.input_shape) != wanted:
        raise InputError(f"the pretrained network takes {list(network.input_shape)} inputs, "
                         f"the proxy feeds {list(wanted)}", field="checkpoint",
                         expected="a network whose input is the dataset's images (set "
                         "image_size to its size)")
    outputs = network.layers[-1].out_channels
    if outputs != num_classes:
        raise InputError(f"the pretrained network gives {outputs} outputs, the dataset has "
                         f"{num_classes} classes", field="checkpoint",
                         expected="a network with one output per class of the dataset")
    return network


def proxy_model(network: Network, design: Design, config: ProxyConfig,
                data: ArrayDataset) -> EpimNet:
    """Build the proxy network (:func:`proxy_network`) with the design carried over.

    Pruning masks follow ``DEFAULT_PRUNE_TILE`` scaled to each proxy layer so that it has as
    many crossbar row and column blocks as the full-size layer (``epim.space.scaled_tile``).
    """
    scaled = proxy_network(network, config, data.input_shape, data.num_classes)
    tiles = None
    if any(choice.pruned for choice in design.layers.values()):
        tiles = proxy_prune_tiles(network, scaled)
    return build(scaled, scale_design(design, network, scaled), quantize=config.quantize,
                 prune_tiles=tiles)


def proxy_prune_tiles(network: Network, scaled: Network) -> dict[str, tuple[int, int]]:
    """Per layer of the proxy network ``scaled``, the tile its pruning masks follow."""
    return {layer.name: scaled_tile(layer, scaled.layer(layer.name), DEFAULT_PRUNE_TILE)
            for layer in network.compute_layers}


def resize(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize a batch of images to ``size`` x ``size`` (bilinear); ``None`` keeps it."""
    if size is None or x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def train_proxy(network: Network, design: Design, config: ProxyConfig | None = None, *,
                cache: ResultCache | None = None, start: DenseStart | None = None
                ) -> ProxyResult:
    """Train the proxy of ``design`` briefly and return its held-out top-1.

    Args:
        network: The study's network.
        design: The design to score.
        config: Proxy settings (default ``ProxyConfig()``).
        cache: Where results are looked up and stored, keyed by design hash and config.
        start: The dense start to fine-tune from (default: trained here once per process
            when ``config.pretrain_steps > 0``). It must belong to ``config``.

    Raises:
        InputError: On bad settings, missing data, or a start of another configuration.

    """
    config = config or ProxyConfig()
    key = proxy_key(network, design, config)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return ProxyResult(**{**hit, "seconds": 0.0, "cached": True})
    if start is not None and start.key != dense_start_key(network, config):
        raise InputError("the dense start belongs to another configuration", field="start",
                         expected="the start of this network and proxy configuration")
    began = time.perf_counter()
    data = load_cached_dataset(config.dataset, config.data_root)
    with torch_threads(config.threads):
        accuracy, loss, steps = _train(network, design, config, data, start)
    result = ProxyResult(accuracy=accuracy, loss=loss, steps=steps,
                         seconds=time.perf_counter() - began, key=key,
                         accuracy_se=binomial_se(accuracy, eval_images(data, config)))
    if cache is not None:
        cache.put(key, {k: v for k, v in asdict(result).items() if k != "cached"})
    return result


def dense_baseline(network: Network, config: ProxyConfig | None = None, *, bits: int = 8,
                   cache: ResultCache | None = None) -> ProxyResult:
    """The same proxy for the dense network at ``bits``-bit weights and activations."""
    return train_proxy(network, Design.dense(network, bits, bits), config, cache=cache)


@dataclass(frozen=True)
class DenseStart:
    """The pretrained dense float proxy that every design of a study starts from.

    Trained once per (network, data, proxy configuration) and shared: a study's driver trains
    it and ships it to its executors, so every evaluation, on any worker, starts from the same
    weights. Serialized as a numpy ``.npz`` archive (no pickle).

    Attributes:
        key: The configuration it belongs to (:func:`dense_start_key`).
        state: The model's state dict as numpy arrays.

    """

    key: str
    state: dict[str, np.ndarray]

    def to_bytes(self) -> bytes:
        """The archive (``np.savez``; loaded with ``allow_pickle=False``)."""
        buffer = io.BytesIO()
        arrays = {"__key__": np.frombuffer(self.key.encode(), dtype=np.uint8), **self.state}
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> DenseStart:
        """Read an archive written by :meth:`to_bytes`."""
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        key = arrays.pop("__key__").tobytes().decode()
        return cls(key=key, state=arrays)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The state as torch tensors (shared memory, not copied)."""
        return {name: torch.from_numpy(array) for name, array in self.state.items()}


_DENSE_STARTS: OrderedDict[str, DenseStart] = OrderedDict()
_KEEP_STARTS = 4


def dense_start(network: Network, config: ProxyConfig,
                data: ArrayDataset | None = None) -> DenseStart:
    """The dense float proxy after ``pretrain_steps`` (deterministic for the seed).

    Kept per process for the few most recent configurations.
    """
    key = dense_start_key(network, config)
    if key in _DENSE_STARTS:
        _DENSE_STARTS.move_to_end(key)
        return _DENSE_STARTS[key]
    data = data or load_cached_dataset(config.dataset, config.data_root)
    dense_config = replace(config, steps=max(1, config.pretrain_steps), epochs=None, quantize=False,
                           pretrain_steps=0, distill=0.0)
    with torch_threads(config.threads):
        torch.manual_seed(config.seed)
        model = proxy_model(network, Design.dense(network, 8, 8), dense_config, data)
        if config.checkpoint is not None:
            load_checkpoint(model, read_checkpoint(Path(config.checkpoint)))
        model.to(proxy_device(config))
        if config.pretrain_steps > 0:
            _fit(model, dense_config, data, steps=config.pretrain_steps)
    start = DenseStart(key, {k: v.detach().cpu().numpy().copy()
                             for k, v in model.state_dict().items()})
    remember_dense_start(start)
    return start


def remember_dense_start(start: DenseStart) -> None:
    """Keep ``start`` for this process (e.g. one a driver shipped to this worker)."""
    _DENSE_STARTS[start.key] = start
    _DENSE_STARTS.move_to_end(start.key)
    while len(_DENSE_STARTS) > _KEEP_STARTS:
        _DENSE_STARTS.popitem(last=False)


@torch.no_grad()
def _start_from_dense(model: EpimNet, dense_state: dict[str, torch.Tensor]) -> None:
    """Least-squares epitomes from the dense kernels; BatchNorm and biases copied."""
    for key, block in model.blocks.items():
        if not isinstance(block, ComputeBlock):
            continue
        prefix = f"blocks.{key}."
        weight = dense_state[prefix + "op.epitome"]
        bias = dense_state.get(prefix + "op.bias")
        op = block.op
        assert isinstance(op, EpitomeConv2d | EpitomeLinear)
        op.load_dense_weight(weight, bias)
        if block.bn is not None:
            for name, tensor in block.bn.state_dict().items():
                tensor.copy_(dense_state[prefix + "bn." + name])


def start_model(network: Network, design: Design, config: ProxyConfig, data: ArrayDataset,
                start: DenseStart | None) -> EpimNet:
    """The proxy of ``design``, initialized from ``start`` (epitomes fitted by least squares).

    Pruning masks are chosen by magnitude from the start's weights.
    """
    torch.manual_seed(config.seed)
    model = proxy_model(network, design, config, data)
    if start is not None:
        _start_from_dense(model, start.tensors())
        model.select_pruning()
    return model


def _train(network: Network, design: Design, config: ProxyConfig, data: ArrayDataset,
           start: DenseStart | None) -> tuple[float, float, int]:
    if start is None and config.has_start:
        start = dense_start(network, config, data)
    device = proxy_device(config)
    model = start_model(network, design, config, data, start).to(device)
    teacher = distillation_teacher(network, config, data, start, device)
    steps = training_steps(config, data)
    loss = _fit(model, config, data, steps=steps, teacher=teacher)
    return evaluate(model, data, config), loss, steps


def distillation_teacher(network: Network, config: ProxyConfig, data: ArrayDataset,
                         start: DenseStart | None, device: torch.device) -> EpimNet | None:
    """The dense start as the distillation teacher (eval mode), or ``None`` without one."""
    if config.distill <= 0 or start is None:
        return None
    teacher = proxy_model(network, Design.dense(network, 8, 8),
                          replace(config, quantize=False), data)
    teacher.load_state_dict(start.tensors())
    return teacher.to(device).eval()


def training_steps(config: ProxyConfig, data: ArrayDataset) -> int:
    """Optimizer steps of a training: ``steps``, or ``epochs`` passes over the samples."""
    if config.epochs is None:
        return config.steps
    return config.epochs * max(1, _train_samples(config, data) // config.batch_size)


def proxy_device(config: ProxyConfig) -> torch.device:
    """The device ``config.device`` names (``auto``: CUDA when one is visible, else the CPU).

    Raises:
        InputError: For ``cuda`` on a machine (or Ray task) without a visible CUDA device.

    """
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if config.device == "cuda" and not torch.cuda.is_available():
        raise InputError("no CUDA device is visible here", field="device",
                         expected="auto or cpu (or executor.gpus_per_trial > 0 on a GPU "
                         "worker)")
    return torch.device(config.device)


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _train_samples(config: ProxyConfig, data: ArrayDataset) -> int:
    return len(data.y_train) if config.train_samples is None else min(
        config.train_samples, len(data.y_train))


def minibatches(config: ProxyConfig, data: ArrayDataset, steps: int, device: torch.device
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``steps`` training batches ``(images, labels)``, resized to ``config.image_size``.

    Shuffled passes over the first ``train_samples`` images, seeded by ``config.seed``: every
    training of the same settings (one design, a stack of designs, a crossbar fine-tuning)
    sees the same batches in the same order (common random numbers).
    """
    rng = np.random.default_rng(config.seed)
    n_train = _train_samples(config, data)
    x_all = torch.from_numpy(data.x_train[:n_train]).to(device)
    y_all = torch.from_numpy(data.y_train[:n_train]).to(device)
    order, cursor = rng.permutation(n_train), 0
    for _ in range(steps):
        if cursor + config.batch_size > n_train:
            order, cursor = rng.permutation(n_train), 0
        index = torch.from_numpy(order[cursor:cursor + config.batch_size]).to(device)
        cursor += config.batch_size
        yield resize(x_all[index], config.image_size), y_all[index]


def _fit(model: EpimNet, config: ProxyConfig, data: ArrayDataset, *, steps: int,
         teacher: torch.nn.Module | None = None) -> float:
    """SGD (Nesterov, cosine schedule) for ``steps``; returns the mean loss of the last tenth.

    With a ``teacher`` the loss adds ``config.distill`` times the KL divergence of the model's
    outputs to the teacher's (knowledge distillation from the dense network).
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                                weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses: list[float] = []
    model.train()
    for x, y in minibatches(config, data, steps, _device_of(model)):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        if teacher is not None:
            with torch.no_grad():
                target = teacher(x).log_softmax(dim=1)
            loss = loss + config.distill * F.kl_div(logits.log_softmax(dim=1), target,
                                                    log_target=True, reduction="batchmean")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
    tail = losses[-max(1, len(losses) // 10):]
    return float(np.mean(tail))


def eval_images(data: ArrayDataset, config: ProxyConfig) -> int:
    """How many held-out images an evaluation uses (the first ``eval_samples``)."""
    return len(data.y_test) if config.eval_samples is None else min(config.eval_samples,
                                                                    len(data.y_test))


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: ArrayDataset, config: ProxyConfig) -> float:
    """Top-1 accuracy of ``model`` on the held-out split (the first ``eval_samples``)."""
    model.eval()
    limit = len(data.y_test) if config.eval_samples is None else config.eval_samples
    device = _device_of(model)
    x_test = torch.from_numpy(data.x_test[:limit]).to(device)
    y_test = torch.from_numpy(data.y_test[:limit]).to(device)
    correct = 0
    for start in range(0, len(y_test), 500):
        x = resize(x_test[start:start + 500], config.image_size)
        correct += int((model(x).argmax(dim=1) == y_test[start:start + 500]).sum())
    return correct / max(1, len(y_test))


