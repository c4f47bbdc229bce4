#!/usr/bin/env bash
# The prepared GPU check: training throughput of TG-HEM and OHEM at paper scale (U-Net base 64,
# 8 crops of 256 x 256) in float32 and bf16, with and without channels_last, on the embedded
# synthetic data, 2 interleaved rounds; prints the table of benchmarks.train (it/s, ms per
# step, the speed-up over fp32 and TG-HEM's step time over OHEM's) and writes it to bench_gpu.json.
#   bash benchmarks/gpu.sh [OUT_DIR]        (from the repository root, on a CUDA machine)
set -euo pipefail
out="${1:-.}"
mkdir -p "$out"
python -m experiments.prepare --dataset synthetic --data-dir "$out/data" --quiet
python -m benchmarks.train --device cuda --data-dir "$out/data" --methods tghem ohem \
    --settings fp32 fp32+cl bf16 bf16+cl --rounds 2 \
    --set model.base_channels=64 --set train.crop_size=256 --set train.crops_per_image=8 \
    --set ohem.min_kept=15000 --set train.iterations=100 --json "$out/bench_gpu.json"
