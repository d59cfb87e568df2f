"""Built-in networks, written in the network file format.

Layer names follow torchvision's module names (``layer1.0.conv1``, ``features.3``,
``classifier.6``), so a design made for ``resnet18`` applies by name to
``torchvision.models.resnet18()``. Shapes are torchvision's at 224x224 (CIFAR variants at
32x32).
"""

from __future__ import annotations

from typing import Any

Spec = dict[str, Any]


def _conv(name: str, out: int, k: int, *, stride: int = 1, padding: int | None = None,
          groups: int = 1, source: str | None = None, bias: bool = False) -> Spec:
    layer: Spec = {
        "name": name, "type": "conv", "out_channels": out, "kernel_size": k, "stride": stride,
        "padding": k // 2 if padding is None else padding,
    }
    if groups != 1:
        layer["groups"] = groups
    if bias:
        layer["bias"] = True
    if source is not None:
        layer["from"] = source
    return layer


def _resnet(name: str, block: str, counts: tuple[int, ...], *, cifar: bool = False,
            num_classes: int = 1000) -> Spec:
    layers: list[Spec] = []
    if cifar:
        widths: tuple[int, ...] = (16, 32, 64)
        layers.append(_conv("conv1", 16, 3))
        inplanes = 16
    else:
        widths = (64, 128, 256, 512)
        layers.append(_conv("conv1", 64, 7, stride=2, padding=3))
        layers.append({"name": "maxpool", "type": "pool", "kernel_size": 3, "stride": 2,
                       "padding": 1})
        inplanes = 64
    expansion = 4 if block == "bottleneck" else 1
    previous = layers[-1]["name"]
    for stage, (planes, count) in enumerate(zip(widths, counts, strict=True), start=1):
        for index in range(count):
            stride = 2 if index == 0 and stage > 1 else 1
            prefix = f"layer{stage}.{index}"
            block_in = previous
            if block == "bottleneck":
                layers += [
                    _conv(f"{prefix}.conv1", planes, 1, source=block_in),
                    _conv(f"{prefix}.conv2", planes, 3, stride=stride),
                    _conv(f"{prefix}.conv3", planes * expansion, 1),
                ]
            else:
                layers += [
                    _conv(f"{prefix}.conv1", planes, 3, stride=stride, source=block_in),
                    _conv(f"{prefix}.conv2", planes, 3),
                ]
            main = layers[-1]["name"]
            shortcut = block_in
            if stride != 1 or inplanes != planes * expansion:
                shortcut = f"{prefix}.downsample.0"
                layers.append(_conv(shortcut, planes * expansion, 1, stride=stride,
                                    source=block_in))
            layers.append({"name": f"{prefix}.add", "type": "add", "from": [main, shortcut]})
            previous = f"{prefix}.add"
            inplanes = planes * expansion
    layers.append({"name": "avgpool", "type": "globalpool"})
    layers.append({"name": "fc", "type": "linear", "out_features": num_classes})
    size = 32 if cifar else 224
    return {"name": name, "input": [3, size, size], "layers": layers}


def resnet18() -> Spec:
    """ResNet-18 (He et al., 2016), torchvision layout, 224x224."""
    return _resnet("resnet18", "basic", (2, 2, 2, 2))


def resnet34() -> Spec:
    """ResNet-34, torchvision layout, 224x224."""
    return _resnet("resnet34", "basic", (3, 4, 6, 3))


def resnet50() -> Spec:
    """ResNet-50 (v1.5: stride on the 3x3 conv), torchvision layout, 224x224."""
    return _resnet("resnet50", "bottleneck", (3, 4, 6, 3))


def resnet20() -> Spec:
    """ResNet-20 for CIFAR-10 (He et al., 2016, section 4.2), 1x1-conv shortcuts, 32x32."""
    return _resnet("resnet20", "basic", (3, 3, 3), cifar=True, num_classes=10)


def vgg16() -> Spec:
    """VGG-16 (configuration D), torchvision ``features``/``classifier`` indices, 224x224.

    torchvision's adaptive 7x7 average pool is the identity at 224x224 and is omitted.
    """
    config: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                               512, 512, 512, "M", 512, 512, 512, "M"]
    layers: list[Spec] = []
    index = 0
    for item in config:
        if item == "M":
            layers.append({"name": f"features.{index}", "type": "pool", "kernel_size": 2,
                           "stride": 2})
            index += 1
        else:
            assert isinstance(item, int)
            layers.append(_conv(f"features.{index}", item, 3, bias=True))
            index += 2  # conv, ReLU
    layers += [
        {"name": "classifier.0", "type": "linear", "out_features": 4096},
        {"name": "classifier.3", "type": "linear", "out_features": 4096},
        {"name": "classifier.6", "type": "linear", "out_features": 1000},
    ]
    return {"name": "vgg16", "input": [3, 224, 224], "layers": layers}


def vgg8() -> Spec:
    """MNSIM 2.0's VGG-8 for CIFAR-10 (32x32), the cost model's validation network."""
    layers: list[Spec] = [
        _conv("conv1", 128, 3), _conv("conv2", 128, 3),
        {"name": "pool1", "type": "pool", "kernel_size": 2},
        _conv("conv3", 256, 3), _conv("conv4", 256, 3),
        {"name": "pool2", "type": "pool", "kernel_size": 2},
        _conv("conv5", 512, 3), _conv("conv6", 512, 3),
        {"name": "pool3", "type": "pool", "kernel_size": 2},
        _conv("conv7", 1024, 3, padding=0),
        {"name": "pool4", "type": "pool", "kernel_size": 2},
        {"name": "fc", "type": "linear", "out_features": 10},
    ]
    return {"name": "vgg8", "input": [3, 32, 32], "layers": layers}


def mobilenet_v2() -> Spec:
    """MobileNetV2 (Sandler et al., 2018), torchvision layout, width 1.0, 224x224."""
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]
    layers: list[Spec] = [_conv("features.0.0", 32, 3, stride=2)]
    inp = 32
    previous = "features.0.0"
    index = 1
    for expand, out, repeats, first_stride in settings:
        for r in range(repeats):
            stride = first_stride if r == 0 else 1
            hidden = inp * expand
            prefix = f"features.{index}.conv"
            block_in = previous
            part = 0
            if expand != 1:
                layers.append(_conv(f"{prefix}.0.0", hidden, 1, source=block_in))
                part = 1
            dw = _conv(f"{prefix}.{part}.0", hidden, 3, stride=stride, groups=hidden)
            if expand == 1:
                dw["from"] = block_in
            layers.append(dw)
            layers.append(_conv(f"{prefix}.{part + 1}", out, 1))
            previous = layers[-1]["name"]
            if stride == 1 and inp == out:
                previous = f"features.{index}.add"
                layers.append({"name": previous, "type": "add",
                               "from": [layers[-1]["name"], block_in]})
            inp = out
            index += 1
    layers.append(_conv(f"features.{index}.0", 1280, 1))
    layers.append({"name": "avgpool", "type": "globalpool"})
    layers.append({"name": "classifier.1", "type": "linear", "out_features": 1000})
    return {"name": "mobilenet_v2", "input": [3, 224, 224], "layers": layers}
