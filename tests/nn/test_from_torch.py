"""``epim.nn.from_torch``: a user's module as a network, its layers named like its modules."""

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from epim.errors import InputError, NetworkError
from epim.nn import EpitomeConv2d, EpitomeLinear, build, epitomize, from_torch, merge
from epim.space import Design
from epim.workloads import load_network_file

from .models import INPUT, MODELS, ConcatNet, DepthwiseNet, ResNetLike

ROOT = Path(__file__).resolve().parents[2]


def measured(model: nn.Module) -> dict[str, tuple[int, tuple[int, ...]]]:
    """MACs and output shape of every conv/linear module, from forward hooks."""
    found: dict[str, tuple[int, tuple[int, ...]]] = {}

    def hook(name: str):  # type: ignore[no-untyped-def]
        def record(module: nn.Module, _: object, out: torch.Tensor) -> None:
            weights = module.weight.numel()
            pixels = out[0, 0].numel() if out.dim() == 4 else 1
            found[name] = (weights * pixels, tuple(out.shape[1:]))
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
               if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *INPUT))
    for handle in handles:
        handle.remove()
    return found


@pytest.mark.parametrize("key", sorted(MODELS))
def test_layers_are_the_modules_with_their_shapes_and_macs(key: str) -> None:
    model = MODELS[key]()
    net = from_torch(model, INPUT)
    hooks = measured(model)
    assert {layer.name for layer in net.compute_layers} == set(hooks)
    for layer in net.compute_layers:
        macs, shape = hooks[layer.name]
        assert layer.macs == macs
        shape_ours = (layer.out_channels, *layer.out_hw) if layer.kind == "conv" \
            else (layer.out_channels,)
        assert shape_ours == shape
    assert net.macs == sum(macs for macs, _ in hooks.values())
    assert net.name == type(model).__name__


def test_graph_of_the_resnet_like_model() -> None:
    net = from_torch(ResNetLike(), (1, 3, 16, 16), name="res")  # a batch size is ignored
    assert net.input_shape == INPUT and net.name == "res"
    kinds = {layer.name: layer.kind for layer in net.layers}
    assert kinds["maxpool"] == "pool" and kinds["avgpool"] == "globalpool"
    assert net.layer("layer1.0.add").inputs == ("layer1.0.conv2", "maxpool")
    assert net.layer("layer2.0.add").inputs == ("layer2.0.conv2", "layer2.0.downsample.0")
    assert net.layer("fc").inputs == ("avgpool",)
    # BatchNorm folded: the conv before it gets its shift as a bias
    assert net.layer("conv1").bias and net.layer("layer2.0.downsample.0").bias


def test_concat_and_functional_pooling() -> None:
    net = from_torch(ConcatNet(), INPUT)
    cat = net.layer("inception.concat")
    assert cat.kind == "concat" and cat.out_channels == 24
    assert cat.inputs == ("inception.b1", "inception.b2.2", "inception.b3.2", "inception.b4.1")
    assert net.layer("inception.b4.0").kind == "pool"
    outer = net.layer("concat")
    assert outer.inputs == ("inception.concat", "grow") and outer.out_channels == 30
    assert [net.layer(n).kind for n in ("pool", "avgpool")] == ["pool", "avgpool"]
    assert net.layer("fc").in_channels == 30 * 4 * 4


def test_depthwise_and_mean() -> None:
    net = from_torch(DepthwiseNet(), INPUT)
    dw = net.layer("features.3.conv.3")
    assert dw.groups == dw.in_channels == dw.out_channels == 32
    assert net.layer("features.3.add").inputs == ("features.0", "features.3.conv.6")
    assert net.layer("globalpool").kind == "globalpool"
    assert net.layers[-1].name == "classifier.1"


@pytest.mark.parametrize("key", sorted(MODELS))
def test_a_design_over_the_network_epitomizes_the_users_module(key: str) -> None:
    model = MODELS[key]()
    net = from_torch(model, INPUT)
    design = Design.dense(net, 8, 8)
    target = max(net.compute_layers, key=lambda layer: layer.params)
    design = design.with_layer(target.name, epitome_in=max(1, target.in_channels
                                                           // target.groups // 2))
    wrapped = epitomize(copy.deepcopy(model), design)
    module = wrapped.get_submodule(target.name)
    assert isinstance(module, EpitomeConv2d | EpitomeLinear)
    with torch.no_grad():
        assert wrapped.eval()(torch.zeros(2, *INPUT)).shape == model.eval()(
            torch.zeros(2, *INPUT)).shape


def test_build_runs_concat_networks() -> None:
    for net in (from_torch(ConcatNet(), INPUT),
                load_network_file(ROOT / "examples/networks/mini-inception.yaml")):
        model = build(net, quantize=False).eval()
        with torch.no_grad():
            assert model(torch.zeros(2, *net.input_shape)).shape == (2, 10)
    a, b = torch.randn(2, 3, 4, 4), torch.randn(2, 5, 4, 4)
    layer = from_torch(ConcatNet(), INPUT).layer("concat")
    joined = merge(layer, {"inception.concat": a, "grow": b})
    assert torch.equal(joined, torch.cat([a, b], dim=1))


class Upsampler(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.conv(x))


class Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) * torch.sigmoid(self.b(x))


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return self.conv(x)
        return x


@pytest.mark.parametrize(("model", "words"), [
    (Upsampler(), "module Upsample is not supported (node 'up', target up "),
    (Gated(), "function is not supported (node 'mul', target mul)"),
    (Branchy(), "torch.fx cannot trace Branchy"),
])
def test_unsupported_modules_and_functions_are_named(model: nn.Module, words: str) -> None:
    with pytest.raises(NetworkError) as info:
        from_torch(model, INPUT)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_input_shape() -> None:
    with pytest.raises(InputError, match="input_shape"):
        from_torch(ResNetLike(), (3, 16))
    with pytest.raises(InputError, match="input_shape"):
        from_torch(ResNetLike(), (3, 0, 16))
    with pytest.raises(NetworkError, match="does not run on input \\[5, 16, 16\\]"):
        from_torch(ResNetLike(), (5, 16, 16))


def test_the_module_is_left_as_it_was() -> None:
    model = ResNetLike().train()
    model.layer1.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    from_torch(model, INPUT)
    assert model.training and not model.layer1.training and model.layer2.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics untouched
