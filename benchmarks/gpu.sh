#!/usr/bin/env bash
# The prepared GPU check: training throughput of TG-HEM and OHEM in the paper-scale study's
# settings (studies/paper/params.yaml: U-Net base 64, 8 crops of 256 x 256, OHEM min_kept 15000,
# topology in worker processes), 100 iterations a run, in float32 and bf16, with and without
# channels_last, on the embedded synthetic data, 2 interleaved rounds after an untimed warm-up of
# each; prints the table of benchmarks.train (it/s, ms per step, the speed-up over fp32 and
# TG-HEM's step time over OHEM's) and writes it to bench_gpu.json.
#   bash benchmarks/gpu.sh [OUT_DIR]        (from the repository root, on a CUDA machine)
set -euo pipefail
python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else
"benchmarks/gpu.sh: no CUDA GPU here (torch.cuda.is_available() is False); run it on a CUDA machine")'
out="${1:-.}"
mkdir -p "$out"
python -m experiments.prepare --dataset synthetic --data-dir "$out/data" --quiet
python -m benchmarks.train --device cuda --data-dir "$out/data" --methods tghem ohem \
    --settings fp32 fp32+cl bf16 bf16+cl --rounds 2 \
    --params studies/paper/params.yaml --set train.iterations=100 --json "$out/bench_gpu.json"
