"""Pretrained checkpoints checked against the proxy network before a study runs."""

from __future__ import annotations

from pathlib import Path

from epim.nn import check_checkpoint, read_checkpoint
from epim.proxy._train import ProxyConfig, proxy_network
from epim.workloads import Network


def check_checkpoint_file(network: Network, config: ProxyConfig,
                          input_shape: tuple[int, int, int], num_classes: int) -> None:
    """Check that ``config.checkpoint`` can start the proxy of ``network`` on this data.

    The network must take the dataset's images unscaled (``proxy_network``) and the file must
    hold tensors only, each of its layer's shape.

    Raises:
        InputError: Naming ``width``, ``image_size`` or ``checkpoint``: what does not fit, or
            the first tensor that does not (``epim.nn.check_checkpoint``); never the path.

    """
    assert config.checkpoint is not None
    proxy = proxy_network(network, config, input_shape, num_classes)
    check_checkpoint(read_checkpoint(Path(config.checkpoint)), proxy)
