"""Proxy accuracy: real local datasets, short QAT training, zero-cost scores.

torch is imported only here and in ``epim.nn``.
"""

from epim.datasets import DATASETS, ArrayDataset, load_dataset
from epim.proxy._cache import JsonFileCache, MemoryCache, ResultCache
from epim.proxy._train import (
    ProxyConfig,
    ProxyResult,
    dense_baseline,
    evaluate,
    proxy_key,
    proxy_model,
    torch_threads,
    train_proxy,
)
from epim.proxy._zero_cost import naswot_score, synflow_score, zero_cost_scores

__all__ = [
    "DATASETS",
    "ArrayDataset",
    "JsonFileCache",
    "MemoryCache",
    "ProxyConfig",
    "ProxyResult",
    "ResultCache",
    "dense_baseline",
    "evaluate",
    "load_dataset",
    "naswot_score",
    "proxy_key",
    "proxy_model",
    "synflow_score",
    "torch_threads",
    "train_proxy",
    "zero_cost_scores",
]
