import numpy as np
import pytest

from epim.space import DESIGN_FIELDS, DesignBatch
from epim.workloads import Network


def random_batch(network: Network, n: int, seed: int = 0, *, spatial: bool = True) -> DesignBatch:
    """Random valid designs: epitome channels, spatial epitomes, offsets and bits."""
    rng = np.random.default_rng(seed)
    compute = network.compute_layers
    cin_g = np.array([layer.in_channels // layer.groups for layer in compute])
    cout = np.array([layer.out_channels for layer in compute])
    kh = np.array([layer.kernel[0] for layer in compute])
    kw = np.array([layer.kernel[1] for layer in compute])
    shape = (n, len(compute))
    cin_e = np.maximum(1, (cin_g * rng.uniform(0.05, 1.0, shape)).astype(np.int64))
    cout_e = np.maximum(1, (cout * rng.uniform(0.05, 1.0, shape)).astype(np.int64))
    grow = rng.integers(0, 2, shape) if spatial else np.zeros(shape, np.int64)
    ph, pw = kh + grow, kw + grow
    too_big = cin_e * cout_e * ph * pw > cin_g * cout * kh * kw
    ph, pw = np.where(too_big, kh, ph), np.where(too_big, kw, pw)
    arrays = {
        "epitome_in": cin_e, "epitome_out": cout_e, "epitome_h": ph, "epitome_w": pw,
        "weight_bits": rng.integers(2, 17, shape), "act_bits": rng.integers(1, 17, shape),
        "channel_offsets": rng.integers(0, 2, shape),
    }
    assert set(arrays) == set(DESIGN_FIELDS)
    batch = DesignBatch(network, {k: np.asarray(v, dtype=np.int64) for k, v in arrays.items()})
    batch.validate()
    return batch


@pytest.fixture
def make_random_batch():  # type: ignore[no-untyped-def]
    return random_batch
