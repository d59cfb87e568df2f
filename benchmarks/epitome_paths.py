"""Epitome operator: the gather path vs the feature-map-reuse path, on CPU or CUDA.

For a few ResNet-shaped layers with 4x channel wrapping, checks that the two paths agree and
times forward and forward+backward of each, printing the reuse/gather speed ratio measured in
the same run. On a GPU it also checks a full-size epitome against ``nn.Conv2d``.

    .venv/bin/python benchmarks/epitome_paths.py [--device cuda] [--repeats 20]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from epim.nn import EpitomeConv2d

LAYERS = [  # (name, batch, cin, cout, size, kernel, cin_e, cout_e)
    ("layer1 3x3 64ch 56px", 32, 64, 64, 56, 3, 16, 16),
    ("layer3 3x3 256ch 14px", 64, 256, 256, 14, 3, 64, 64),
    ("layer4 1x1 512->2048 7px", 64, 512, 2048, 7, 1, 128, 512),
]


def timed(fn, device: torch.device, repeats: int) -> float:  # type: ignore[no-untyped-def]
    for _ in range(3):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def check_exact(device: torch.device) -> None:
    conv = nn.Conv2d(32, 48, 3, padding=1).to(device)
    epi = EpitomeConv2d.from_conv(conv).to(device)
    x = torch.randn(8, 32, 16, 16, device=device)
    assert torch.equal(epi.weight, conv.weight), "full-size epitome weight differs"
    torch.testing.assert_close(epi(x), conv(x))
    layer = EpitomeConv2d(32, 48, 3, padding=1, epitome_in=8, epitome_out=12,
                          path="gather").double().to(device)
    xd = torch.randn(2, 32, 9, 9, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(t), (xd,)), "gradcheck failed"
    print("checks: full-size == nn.Conv2d, gradcheck (float64): ok")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {name}, torch {torch.__version__}")
    check_exact(device)
    for label, batch, cin, cout, size, k, cin_e, cout_e in LAYERS:
        gather = EpitomeConv2d(cin, cout, k, padding=k // 2, epitome_in=cin_e,
                               epitome_out=cout_e, path="gather").to(device)
        reuse = EpitomeConv2d(cin, cout, k, padding=k // 2, epitome_in=cin_e,
                              epitome_out=cout_e, path="reuse").to(device)
        reuse.load_state_dict(gather.state_dict())
        x = torch.randn(batch, cin, size, size, device=device)
        with torch.no_grad():
            difference = float((gather(x) - reuse(x)).abs().max())
            scale = float(gather(x).abs().max())
        assert difference <= 1e-3 * scale, f"{label}: paths differ by {difference}"

        def forward(layer: EpitomeConv2d, inputs: torch.Tensor = x) -> None:
            with torch.no_grad():
                layer(inputs)

        def train(layer: EpitomeConv2d, inputs: torch.Tensor = x) -> None:
            layer(inputs).sum().backward()

        results = {}
        for path, layer in (("gather", gather), ("reuse", reuse)):
            results[path] = (timed(lambda layer=layer: forward(layer), device, args.repeats),
                             timed(lambda layer=layer: train(layer), device, args.repeats))
        g, r = results["gather"], results["reuse"]
        print(f"{label:<26} fwd gather {g[0] * 1e3:8.3f} ms reuse {r[0] * 1e3:8.3f} ms "
              f"(x{g[0] / r[0]:.2f}) | fwd+bwd gather {g[1] * 1e3:8.3f} ms reuse "
              f"{r[1] * 1e3:8.3f} ms (x{g[1] / r[1]:.2f}) | max diff {difference:.1e}")


if __name__ == "__main__":
    main()
