import pytest

from epim.workloads import get_network, list_networks, network_from_dict, network_to_dict

# torchvision / fvcore figures at 224x224 (MACs of conv+linear; weights without BN/bias).
TORCHVISION = {
    "resnet18": (1_814_073_344, 11_678_912),
    "resnet34": (3_663_761_408, 21_779_648),
    "resnet50": (4_089_184_256, 25_502_912),
    "vgg16": (15_470_264_320, 138_344_128),
    "mobilenet_v2": (300_774_272, 3_469_760),
}


def test_registry_lists_every_builtin() -> None:
    assert set(list_networks()) >= {"resnet18", "resnet34", "resnet50", "vgg16", "mobilenet_v2",
                                    "resnet20", "vgg8"}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_macs_and_weights_match_torchvision(name: str) -> None:
    net = get_network(name)
    assert (net.macs, net.params) == TORCHVISION[name]
    assert net.output_shape == (1000, 1, 1)


@pytest.mark.parametrize("name", list_networks())
def test_round_trip_through_the_file_format(name: str) -> None:
    net = get_network(name)
    assert network_from_dict(network_to_dict(net)) == net


def test_resnet50_shapes() -> None:
    net = get_network("resnet50")
    assert net.layer("conv1").out_hw == (112, 112)
    assert net.layer("maxpool").out_hw == (56, 56)
    assert net.layer("layer2.0.conv2").stride == (2, 2)  # v1.5: stride on the 3x3 conv
    assert net.layer("layer4.2.conv3").out_hw == (7, 7)
    assert net.layer("layer4.2.conv3").out_channels == 2048
    assert net.layer("fc").in_channels == 2048


def test_mobilenet_depthwise_and_residuals() -> None:
    net = get_network("mobilenet_v2")
    dw = net.layer("features.2.conv.1.0")
    assert dw.groups == dw.in_channels == 96
    assert net.layer("features.3.add").inputs == ("features.3.conv.2", "features.2.conv.2")


def test_cifar_networks() -> None:
    resnet20 = get_network("resnet20")
    assert len(resnet20.compute_layers) == 22  # 19 convs + 2 shortcuts + fc
    assert resnet20.layer("fc").in_channels == 64
    vgg8 = get_network("vgg8")
    assert vgg8.layer("conv7").out_hw == (2, 2)
    assert vgg8.layer("fc").in_channels == 1024


def test_duplicate_registration_raises() -> None:
    from epim.workloads import register_network
    from epim.workloads._zoo import vgg8

    with pytest.raises(ValueError, match="already registered"):
        register_network("vgg8", vgg8)


@pytest.mark.parametrize("name", list_networks())
@pytest.mark.parametrize(("size", "channels"), [(8, 1), (28, 1), (32, 3)])
def test_scaled_proxy_networks_build(name: str, size: int, channels: int) -> None:
    from epim.workloads import scale_network

    net = get_network(name)
    small = scale_network(net, width=0.25, image_size=size, in_channels=channels,
                          num_classes=10)
    assert [layer.name for layer in small.layers] == [layer.name for layer in net.layers]
    assert small.input_shape == (channels, size, size) and small.output_shape == (10, 1, 1)
    assert small.params < net.params
