#!/usr/bin/env bash
# Issue #28's GPU measurement, one call on a GPU machine from the repository root (about 5 minutes on an H100/H200):
#     bash benchmarks/gpu_screen.sh
# Batch screening (`xcardia.predict.screen`) of synthetic phantoms with an untrained paper-size model (ResNet-50, 2 mm,
# 164^3; speed does not depend on the weights) with 0 and 8 DataLoader workers, autocast fp16: studies/s and peak GPU
# memory; then the real shared CTs' read-and-preprocess seconds at 2 mm (the CPU floor per study and core).
# Every figure goes to stdout (and to $OUT/gpu_screen.txt when $OUT is set).
set -uo pipefail
log=${OUT:-/tmp}/gpu_screen.txt
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  nproc
  timeout 540 python benchmarks/bench_screen.py --preset paper --patients 40 --workers 0 8 --bs 12 --out /tmp/gpu_screen 2>&1 | grep -v -i warning | grep -v '█'
} | tee "$log"
