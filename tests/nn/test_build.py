from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from epim.errors import DesignError, InputError
from epim.nn import EpimNet, EpitomeConv2d, EpitomeLinear, build, epitomize, export, load
from epim.space import Design, DesignBatch, LayerDesign
from epim.workloads import get_network, list_networks


def random_design(name: str, seed: int = 0) -> Design:
    net = get_network(name)
    rng = np.random.default_rng(seed)
    layers = {}
    for layer in net.compute_layers:
        cout, cin_g, kh, kw = layer.weight_shape
        layers[layer.name] = LayerDesign(
            epitome_in=max(1, cin_g // int(rng.choice([1, 2, 4]))),
            epitome_out=max(1, cout // int(rng.choice([1, 2, 4]))),
            epitome_h=kh, epitome_w=kw, weight_bits=int(rng.integers(2, 9)),
            act_bits=int(rng.integers(4, 9)),
            channel_offsets=int(rng.integers(0, 2)) if layer.params < 5_000_000 else 0)
    design = Design(net.name, layers)
    DesignBatch.from_designs(net, [design])  # validates
    return design


@pytest.mark.parametrize("name", list_networks())
def test_build_every_builtin_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    net = get_network(name)
    model = build(net, random_design(name))
    x = torch.randn(1, *net.input_shape)
    y = model(x)
    assert y.shape == (1, net.output_shape[0])
    y.square().mean().backward()
    grads = [p.grad for n, p in model.named_parameters() if n.endswith("epitome")]
    assert len(grads) == len(net.compute_layers)
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_epitome_shapes_and_bits_follow_the_design() -> None:
    net = get_network("resnet20")
    design = random_design("resnet20", seed=4)
    model = build(net, design)
    for layer in net.compute_layers:
        block = model.blocks[layer.name.replace(".", "__")]
        choice = design.layers[layer.name]
        assert block.op.epitome_shape[:2] == (choice.epitome_out, choice.epitome_in)
        assert block.op.quantizer.bits == choice.weight_bits
    first = model.blocks["conv1"]
    assert first.act_quant is None  # the network input is signed: not quantized
    assert model.blocks["layer1__0__conv2"].relu is False  # ReLU after the residual add


def test_export_load_round_trip(tmp_path: Path) -> None:
    net = get_network("resnet20")
    model = build(net, random_design("resnet20", seed=2))
    x = torch.randn(4, 3, 32, 32)
    model.train()
    model(x)  # initializes quantizer steps and BN statistics
    model.eval()
    expected = model(x)
    path = export(tmp_path / "m.pt", net, model.design, model=model)
    loaded = load(path, device="cpu")
    assert isinstance(loaded, EpimNet)
    loaded.eval()
    assert torch.equal(loaded(x), expected)
    assert loaded.design == model.design


def test_load_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"hello": 1}, path)
    with pytest.raises(InputError, match="not an EPIM model file"):
        load(path)
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "missing.pt")


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


def tiny_design(**conv: int) -> Design:
    return Design("tiny", {
        "features.0": LayerDesign(conv.get("cin", 3), conv.get("cout", 4), 3, 3, 8, 8, 0),
        "fc": LayerDesign(8, 4, 1, 1, 8, 8, 0),
    })


def test_epitomize_replaces_by_dotted_name() -> None:
    model = Tiny()
    dense_out = model(torch.ones(1, 3, 5, 5))
    epitomize(model, tiny_design())
    assert isinstance(model.features[0], EpitomeConv2d)
    assert isinstance(model.fc, EpitomeLinear)
    assert model.features[0].epitome_shape == (4, 3, 3, 3)
    out = model(torch.ones(1, 3, 5, 5))
    assert out.shape == dense_out.shape


@pytest.mark.parametrize(("design", "needle"), [
    (Design("tiny", {"features.9": LayerDesign(3, 4, 3, 3, 8, 8, 0)}), "features.9"),
    (Design("tiny", {"features.1": LayerDesign(3, 4, 3, 3, 8, 8, 0)}), "ReLU"),
    (Design("tiny", {"features.0": LayerDesign(30, 4, 3, 3, 8, 8, 0)}), "does not fit"),
    (Design("tiny", {"features.0": LayerDesign(3, 4, 3, 3, 8, 8, 0, prune_out=2)}),
     "does not prune"),
])
def test_epitomize_errors_name_the_layer(design: Design, needle: str) -> None:
    with pytest.raises(DesignError, match=needle):
        epitomize(Tiny(), design)
