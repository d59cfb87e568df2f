import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epim.errors import InputError
from epim.space import Design, LayerOptions, SearchSpace
from epim.workloads import get_network

NET = get_network("resnet18")
SPACE = SearchSpace.build(NET, options=LayerOptions(spatial=True, pim_aligned=False,
                                                    activation_bits=(4, 8)))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_decode_encode_round_trip(data: st.DataObject) -> None:
    params = {name: data.draw(st.sampled_from(choices))
              for name, choices in SPACE.parameters().items()}
    design = SPACE.decode(params)
    design.validate(NET)
    encoded = SPACE.encode(design)
    assert SPACE.decode(encoded) == design
    repaired = {k for k in params if params[k] != encoded[k]}
    assert all(k.endswith("/spatial") and encoded[k] == 0 for k in repaired)


def test_pim_aligned_candidates() -> None:
    space = SearchSpace.build(NET)
    layer = next(layer for layer in space.layers if layer.name == "layer3.0.conv2")
    # 3x3 kernels: 256 // 9 = 28 channels per crossbar; 256 in channels: 28-multiples or all
    assert all(c % 28 == 0 or c == 256 for c in layer.epitome_in)
    assert layer.epitome_out == (256,)  # 256 output channels = one crossbar's columns
    fc_in = space.layers[-1]
    assert fc_in.frozen and fc_in.weight_bits == (8,)


def test_frozen_overrides_and_size() -> None:
    space = SearchSpace.build(NET, frozen=["first", "last", "layer4.*"],
                              overrides={"layer1.*": {"weight_bits": [8]}})
    frozen = [layer.name for layer in space.layers if layer.frozen]
    assert "conv1" in frozen and "fc" in frozen and "layer4.1.conv2" in frozen
    assert all(layer.weight_bits == (8,) for layer in space.layers if
               layer.name.startswith("layer1."))
    assert space.size == int(np.prod([layer.size for layer in space.layers]))
    assert space.size > 1


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"frozen": ["nothing.*"]}, "frozen"),
    ({"overrides": {"zzz": {"weight_bits": [4]}}}, "overrides"),
    ({"overrides": {"layer1.*": {"colour": 1}}}, "overrides"),
])
def test_bad_space_options(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError, match=f"'{field}'"):
        SearchSpace.build(NET, **kwargs)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"weight_bits": (0,)}, "weight_bits"), ({"activation_bits": ()}, "activation_bits"),
    ({"channel_ratios": (0.5,)}, "channel_ratios"), ({"channels": (0,)}, "channels"),
    ({"channel_ratios": (), "channels": ()}, "channel_ratios"),
])
def test_bad_layer_options(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError, match=f"'{field}'"):
        LayerOptions(**kwargs)


def test_decode_rejects_values_outside_the_space() -> None:
    name = next(iter(SPACE.parameters()))
    with pytest.raises(InputError, match=name):
        SPACE.decode({name: 9999})
    with pytest.raises(InputError, match="not in the space"):
        SPACE.encode(Design.dense(NET, 16, 16))


def test_dense_choice_is_the_least_compressed() -> None:
    design = SPACE.decode(SPACE.dense_choice())
    for layer in NET.compute_layers:
        choice = design.layers[layer.name]
        if not next(s for s in SPACE.layers if s.name == layer.name).frozen:
            assert choice.epitome_in == layer.in_channels // layer.groups
            assert choice.weight_bits == 8


def test_uniform_choices_are_uniform() -> None:
    space = SearchSpace.build(NET)
    params = space.parameters()
    choices = space.uniform_choices()
    assert len(choices) == len({tuple(sorted(c.items())) for c in choices})  # distinct
    first = choices[0]
    for name, candidates in params.items():
        if name.endswith(("/in", "/out")):
            assert first[name] == min(candidates)  # rank 0: every layer's smallest epitome
    bits = {first[k] for k in params if k.endswith("/wbits")}
    assert bits == {min(space.layers[1].weight_bits)}  # one precision everywhere
    last = choices[-1]
    assert all(last[k] == max(params[k]) for k in params if k.endswith(("/in", "/out")))
    for choice in choices:
        space.decode(choice).validate(NET)
