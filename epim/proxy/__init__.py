"""Proxy accuracy: real local datasets, short QAT training, zero-cost scores.

torch is imported only here and in ``epim.nn``.
"""

from epim.datasets import DATASETS, ArrayDataset, load_dataset
from epim.proxy._batched import chunk_size, train_proxies
from epim.proxy._cache import JsonFileCache, MemoryCache, ResultCache
from epim.proxy._checkpoint import check_checkpoint_file
from epim.proxy._hardware import (
    RobustAccuracy,
    crossbar_spec,
    finetune_hardware,
    robust_accuracy,
    train_steps,
)
from epim.proxy._keys import dense_start_key, profile_key, proxy_key
from epim.proxy._profile import ProfileResult, profile_layers
from epim.proxy._robust import (
    HardwareEffects,
    RobustResult,
    design_hardware,
    forget_trained,
    robust_key,
    train_robust,
)
from epim.proxy._train import (
    DenseStart,
    ProxyConfig,
    ProxyResult,
    binomial_se,
    dense_baseline,
    dense_start,
    evaluate,
    proxy_device,
    proxy_model,
    proxy_network,
    remember_dense_start,
    start_model,
    torch_threads,
    train_proxy,
)
from epim.proxy._zero_cost import naswot_score, synflow_score, zero_cost_scores

__all__ = [
    "DATASETS",
    "ArrayDataset",
    "DenseStart",
    "HardwareEffects",
    "JsonFileCache",
    "MemoryCache",
    "ProfileResult",
    "ProxyConfig",
    "ProxyResult",
    "ResultCache",
    "RobustAccuracy",
    "RobustResult",
    "binomial_se",
    "check_checkpoint_file",
    "chunk_size",
    "crossbar_spec",
    "dense_baseline",
    "dense_start",
    "dense_start_key",
    "design_hardware",
    "evaluate",
    "finetune_hardware",
    "forget_trained",
    "load_dataset",
    "naswot_score",
    "profile_key",
    "profile_layers",
    "proxy_device",
    "proxy_key",
    "proxy_model",
    "proxy_network",
    "remember_dense_start",
    "robust_accuracy",
    "robust_key",
    "start_model",
    "synflow_score",
    "torch_threads",
    "train_proxies",
    "train_proxy",
    "train_robust",
    "train_steps",
    "zero_cost_scores",
]
