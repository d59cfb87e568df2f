"""The one recipe of the proxy's cache keys: what a result depends on, never where it ran.

Every key is a SHA-256 over a JSON document of the network and the :class:`ProxyConfig`
settings that change the result. ``threads`` and ``device`` change where and how fast a proxy
trains, not what it computes, so no key holds them: a CPU and a GPU study of the same settings
share their dense start, profile and results. A checkpoint is keyed by its content, not its
path. The search driver stores its artifacts under these keys too (through the evaluator),
so the proxy's in-process caches and the study store agree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from epim.space import Design
from epim.workloads import Network, network_to_dict

if TYPE_CHECKING:
    from epim.proxy._train import ProxyConfig

#: Settings that say where a proxy runs, not what it computes: in no key.
NOT_KEYED = ("threads", "device")
#: Settings that shape the designs' training but not the dense start's pretraining.
TRAINING_ONLY = ("steps", "epochs", "eval_samples", "quantize", "distill")


@lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_digest(path: str | None) -> str | None:
    """A checkpoint's identity in the keys: its content's SHA-256 (a moved file is the same)."""
    if path is None:
        return None
    stat = Path(path).stat()
    return _file_digest(path, stat.st_size, stat.st_mtime_ns)


def keyed_settings(config: ProxyConfig, *, leave_out: Sequence[str] = ()) -> dict[str, Any]:
    """The settings of ``config`` a result depends on (the checkpoint by content)."""
    settings = {k: v for k, v in asdict(config).items()
                if k not in NOT_KEYED and k not in leave_out}
    settings["checkpoint"] = checkpoint_digest(config.checkpoint)
    return settings


def _sha256(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def proxy_key(network: Network, design: Design, config: ProxyConfig, kind: str = "train") -> str:
    """A design's result: the design hash, the network and every keyed setting."""
    digest = _sha256({"kind": kind, "design": design.to_dict(),
                      "network": network_to_dict(network), "config": keyed_settings(config)})
    return f"{kind}-{design.digest()}-{digest[:16]}"


def dense_start_key(network: Network, config: ProxyConfig) -> str:
    """A dense start: the network and the keyed settings that shape pretraining."""
    return _sha256({"network": network_to_dict(network),
                    "config": keyed_settings(config, leave_out=TRAINING_ONLY)})[:24]


def profile_key(network: Network, reference: Design, probes: Sequence[tuple[str, Any]],
                config: ProxyConfig, *, samples: int, steps: int) -> str:
    """A sensitivity profile: its dense start, reference, probes, samples and steps.

    ``probes`` are ``(layer name, choice fields)`` as the profile job carries them.
    """
    return _sha256({"start": dense_start_key(network, config),
                    "config": keyed_settings(config), "reference": reference.to_dict(),
                    "probes": [[name, list(choice)] for name, choice in probes],
                    "samples": samples, "steps": steps})[:32]
