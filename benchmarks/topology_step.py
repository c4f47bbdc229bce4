"""What TG-HEM's topology costs: TopoGuide backends side by side, and the training-step overhead.

    python -m benchmarks.topology_step [--vgg-cells DIR] [--base-channels 8] [--repeats 5] [--device auto]

1. The comparison of :mod:`benchmarks.topology`: ``TopoGuide.discrepancies`` on a batch of
   8 crops of 256 x 256 (VGG-cells dots when found through ``--vgg-cells`` or
   ``TGHEM_DATA_MIRROR``, else synthetic), near-converged and noise-like predictions,
   gudhi path vs giotto-ph's ripser vs the fast path, their ratios and the largest
   relative difference of D.
2. One training step (U-Net forward, loss, backward, Adam step) on the same batch,
   with TGHEM (fast backend, then gudhi) against the same step at ``lambda_pers = 0``.
   At ``lambda_pers = 0`` TGHEM equals its segmentation term, so that step uses
   :class:`tghem.SegmentationLoss` and computes no topology at all. The network's
   output is added, scaled by 0.01, to fixed logits of the regime being measured, so
   the binarised prediction (hence the topology's cost) is the near-converged or the
   noise-like one while the gradient still flows through the whole U-Net.

Runs on CPU, and on the GPU too when one is available (``--device auto``), where
the U-Net uses ``--gpu-base-channels`` (default 64, paper scale).
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import List, Optional

import numpy as np
import torch

from experiments.core.cli import int_at_least
from experiments.model.unet import UNet
from tghem import TGHEM, SegmentationLoss
from benchmarks.topology import add_crop_arguments, checked_crops, compare_backends, format_comparison, print_environment


def _synchronised(device: torch.device):
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def step_overhead(
    crops, regime: str, device: torch.device, base_channels: int, repeats: int, workers, backends=("fast", "gudhi")
) -> dict:
    """Median step time with each loss on one regime's predictions, in seconds."""
    torch.manual_seed(0)
    batch, size = crops.dots.shape[0], crops.dots.shape[1]
    model = UNet(in_channels=3, base_channels=base_channels).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    images = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    prior = torch.from_numpy(crops.logits[regime]).unsqueeze(1).to(device)
    mask = torch.from_numpy(crops.mask).to(device)
    dots = torch.from_numpy(crops.dots).to(device)
    sync = _synchronised(device)
    segmentation = SegmentationLoss(thresh=0.7, min_kept=15000, reduction="none")
    losses = {"lambda_pers=0": lambda logits: segmentation(logits, mask).mean()}
    for backend in backends:
        criterion = TGHEM(lambda_pers=0.5, topo_backend=backend, topo_workers=workers if backend == "fast" else 1)
        losses[f"TGHEM {backend}"] = lambda logits, c=criterion: c(logits, mask, dots)

    def step(loss_fn):
        optimizer.zero_grad(set_to_none=True)
        logits = prior + 0.01 * model(images)
        loss_fn(logits).backward()
        optimizer.step()
        sync()

    # Interleaved (one step with each loss per round) so that a slow spell of the machine
    # hits every loss alike; the first round is a warm-up.
    times: dict = {name: [] for name in losses}
    for round_ in range(repeats + 1):
        for name, fn in losses.items():
            start = time.perf_counter()
            step(fn)
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(samples) for name, samples in times.items()}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.topology_step", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_crop_arguments(parser, repeats=5)
    parser.add_argument("--base-channels", type=int_at_least(1), default=8, help="U-Net width on CPU (default 8, params.yaml's CPU default)")
    parser.add_argument("--gpu-base-channels", type=int_at_least(1), default=64, help="U-Net width on the GPU (default 64)")
    parser.add_argument("--device", choices=["auto", "cpu"], default="auto", help="auto: CPU, then the GPU if present")
    parser.add_argument("--skip-gudhi-steps", action="store_true", help="time training steps with the fast backend only")
    args = parser.parse_args(argv)
    workers = args.workers

    crops = checked_crops(parser, args)
    print_environment()
    print(f"GT dots: {crops.source}; B={args.batch}, {args.size}x{args.size}; epsilon 50; medians of {args.repeats}")
    print("\nTopoGuide.discrepancies on the batch")
    for regime, logits in crops.logits.items():
        binary = logits >= 0.0  # sigmoid >= 0.5
        r = compare_backends(crops.dots, binary, args.repeats, workers)
        print(f"  {regime:15s} {format_comparison(r, workers)}")

    devices = [(torch.device("cpu"), args.base_channels)]
    if args.device == "auto" and torch.cuda.is_available():
        devices.append((torch.device("cuda"), args.gpu_base_channels))
    backends = ("fast",) if args.skip_gudhi_steps else ("fast", "gudhi")
    for device, base in devices:
        print(f"\nTraining step (U-Net base {base}, forward + loss + backward + Adam) on {device}")
        for regime in crops.logits:
            times = step_overhead(crops, regime, device, base, args.repeats, workers, backends)
            base_time = times["lambda_pers=0"]
            parts = [f"lambda_pers=0 {base_time * 1e3:8.1f} ms"]
            for name, value in times.items():
                if name != "lambda_pers=0":
                    parts.append(f"{name} {value * 1e3:8.1f} ms (+{(value - base_time) * 1e3:.1f} ms, x{value / base_time:.2f})")
            print(f"  {regime:15s} " + " | ".join(parts))
    if not torch.cuda.is_available():
        print("\nNo GPU here: GPU figures not measured.")


if __name__ == "__main__":
    main()
