"""Accuracy on crossbars: against ADC resolution and against conductance variation.

A resnet20 proxy (``ProxyConfig`` width 0.25, Fashion-MNIST 28x28) is trained briefly with
QAT at the design's bits, its weights kept to the levels a +/- pair stores
(``pair_weight_levels``), then scored with the crossbar-faithful forward pass of the ``mnsim``
preset (256x256 crossbars, kernel row packing, 128 rows driven at once, 1-bit cells in a +/-
pair, 1-bit DACs); ranges calibrated on the first ``--calibration-images`` training images:

- the same proxy trained with the quantizer's full signed range (``-2^(b-1)`` included, as
  ``epim.nn`` trains today), on crossbars with a 10-bit ADC: the cost of the lowest level
  that a pair cannot store;

- against the ADC's resolution (2..10 bits), ranges calibrated at the largest partial sum and
  at its 99.9th percentile, ideal cells;
- against the cells' relative conductance sigma (0..0.3) at the preset's 6-bit ADC, mean and
  5th percentile over K device samples; plus MNSIM's default SimConfig device (sigma 0.01,
  0.1 % of cells stuck at each of HRS and LRS);
- with hardware-aware fine-tuning (the crossbar forward in the loop, straight-through
  gradients, a new device draw per step) at a low-ADC and a high-variation point;
- the cost of the faithful forward against the ideal one (same batch, same process, best of
  three, interleaved): the ratio.

    .venv/bin/python benchmarks/hardware_accuracy.py [--steps 400] [--eval-samples 500]
        [--samples 3] [--finetune-steps 60] [--calibration-images 128] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from epim.cost_model import load_hardware
from epim.datasets import load_cached_dataset
from epim.nn import CrossbarSpec, calibrate_crossbars, crossbar_model, pair_weight_levels
from epim.proxy import (
    ProxyConfig,
    RobustAccuracy,
    crossbar_spec,
    evaluate,
    finetune_hardware,
    proxy_model,
    robust_accuracy,
    train_steps,
)
from epim.space import Design
from epim.workloads import get_network

ADC_BITS = (2, 3, 4, 5, 6, 8)
SIGMAS = (0.0, 0.05, 0.1, 0.2, 0.3)


def log(message: str, began: float) -> None:
    print(f"[{time.perf_counter() - began:7.1f} s] {message}", flush=True)


def forward_ratio(model: torch.nn.Module, xbar: torch.nn.Module, x: torch.Tensor) -> tuple[
        float, float]:
    """Best-of-three times of the ideal and the faithful forward on ``x`` (s), interleaved."""
    ideal, faithful = [], []
    model.eval()
    xbar.eval()
    with torch.no_grad():
        model(x)
        xbar(x)
        for _ in range(3):
            start = time.perf_counter()
            model(x)
            ideal.append(time.perf_counter() - start)
            start = time.perf_counter()
            xbar(x)
            faithful.append(time.perf_counter() - start)
    return min(ideal), min(faithful)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=400, help="QAT steps of the proxy")
    parser.add_argument("--eval-samples", type=int, default=500)
    parser.add_argument("--samples", type=int, default=3, help="device samples K")
    parser.add_argument("--finetune-steps", type=int, default=60)
    parser.add_argument("--calibration-images", type=int, default=128)
    parser.add_argument("--weight-bits", type=int, default=4)
    parser.add_argument("--act-bits", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    network = get_network("resnet20")
    config = ProxyConfig(dataset="fashion-mnist", width=0.25, batch_size=64, lr=0.05,
                         eval_samples=args.eval_samples, threads=args.threads,
                         pretrain_steps=0)
    data = load_cached_dataset(config.dataset, config.data_root)
    design = Design.dense(network, args.weight_bits, args.act_bits)
    base = crossbar_spec(load_hardware("mnsim"))
    calibration = args.calibration_images

    def score(model: torch.nn.Module, spec: CrossbarSpec, samples: int = 1) -> RobustAccuracy:
        return robust_accuracy(model, data, config, spec, samples=samples,
                               calibration_images=calibration)

    models = {}
    for symmetric in (True, False):
        torch.manual_seed(config.seed)
        model = proxy_model(network, design, config, data)
        if symmetric:
            pair_weight_levels(model)
        log(f"training the resnet20 proxy ({args.weight_bits}-bit weights"
            f"{', levels of a +/- pair' if symmetric else ', full signed range'}, "
            f"{args.act_bits}-bit activations) for {args.steps} steps", began)
        train_steps(model, data, config, steps=args.steps)
        models[symmetric] = model
    model = models[True]
    ideal = evaluate(model, data, config)
    full_range = evaluate(models[False], data, config)
    log(f"ideal quantized proxy: top-1 {ideal:.4f} on {args.eval_samples} test images", began)
    on_pair = score(models[False], dataclasses.replace(base, adc_bits=10)).mean
    print(f"\nfull signed range (-2^(b-1) included): ideal {full_range:.4f}, on crossbars with "
          f"a 10-bit ADC {on_pair:.4f} (the pair reads -2^(b-1) as -(2^(b-1) - 1))")

    print("\n## Accuracy against ADC resolution (ideal cells)")
    print("| ADC bits | top-1, range at max | top-1, range at p99.9 |")
    print("| --- | --- | --- |")
    print(f"| ideal (no crossbar) | {ideal:.4f} | {ideal:.4f} |")
    adc_results: dict[int, float] = {}
    for bits in ADC_BITS:
        row = [score(model, dataclasses.replace(base, adc_bits=bits, adc_percentile=p)).mean
               for p in (100.0, 99.9)]
        adc_results[bits] = row[0]
        print(f"| {bits} | {row[0]:.4f} | {row[1]:.4f} |", flush=True)
    log("ADC sweep done", began)

    print(f"\n## Accuracy against conductance variation (6-bit ADC, K = {args.samples})")
    print("| sigma | mean top-1 | 5th percentile |")
    print("| --- | --- | --- |")
    variation: dict[float, RobustAccuracy] = {}
    for sigma in SIGMAS:
        variation[sigma] = score(model, dataclasses.replace(base, variation=sigma),
                                 args.samples)
        print(f"| {sigma:g} | {variation[sigma].mean:.4f} | {variation[sigma].p5:.4f} |",
              flush=True)
    mnsim_device = dataclasses.replace(base, variation=0.01, stuck_on=0.001, stuck_off=0.001)
    result = score(model, mnsim_device, args.samples)
    print(f"| 0.01 + SAF 0.1 %/0.1 % (MNSIM's default SimConfig) | {result.mean:.4f} | "
          f"{result.p5:.4f} |", flush=True)
    log("variation sweep done", began)

    if args.finetune_steps:
        # the most ADC bits that still lose over 5 points: where fine-tuning has work to do
        low_bits = max((b for b in ADC_BITS if adc_results[b] < ideal - 0.05), default=4)
        print(f"\n## Hardware-aware fine-tuning ({args.finetune_steps} steps, lr 0.01)")
        print("| hardware | before | after |")
        print("| --- | --- | --- |")
        points = ((f"{low_bits}-bit ADC", dataclasses.replace(base, adc_bits=low_bits), 1,
                   adc_results[low_bits], adc_results[low_bits]),
                  ("sigma 0.2, 6-bit ADC", dataclasses.replace(base, variation=0.2),
                   args.samples, variation[0.2].mean, variation[0.2].p5))
        for name, spec, samples, mean, p5 in points:
            tuned = finetune_hardware(model, data, config, spec, steps=args.finetune_steps,
                                      lr=0.01, calibration_images=calibration)
            after = score(tuned, spec, samples)
            print(f"| {name} | {mean:.4f} (p5 {p5:.4f}) | {after.mean:.4f} "
                  f"(p5 {after.p5:.4f}) |", flush=True)
        log("fine-tuning done", began)

    x = torch.from_numpy(data.x_test[:256])
    xbar = crossbar_model(model, base)
    calibrate_crossbars(xbar, [x])
    t_ideal, t_faithful = forward_ratio(model, xbar, x)
    print(f"\n## Speed (256 images, {args.threads} thread(s), same process)")
    print(f"ideal forward {t_ideal * 1e3:.1f} ms, faithful forward {t_faithful * 1e3:.1f} ms: "
          f"{t_faithful / t_ideal:.1f}x slower")
    per_image = np.array([t_ideal, t_faithful]) / len(x) * 1e3
    print(f"per image: {per_image[0]:.3f} ms ideal, {per_image[1]:.3f} ms faithful")
    log("done", began)


if __name__ == "__main__":
    main()
