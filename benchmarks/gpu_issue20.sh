#!/usr/bin/env bash
# Every GPU measurement of issue #20 (paper-size pre-training speed), prepared for one call on a GPU machine, run from
# the repository root:
#     bash benchmarks/gpu_issue20.sh            # both parts, about 10 minutes on an H100/H200
#     bash benchmarks/gpu_issue20.sh 1          # part 1 only (eager modes, the Learner's switches one at a time and together, the bank), ~5 min
#     bash benchmarks/gpu_issue20.sh 2          # part 2 only (torch.compile and its compile time, the largest batch, the data feed), ~5 min
# Every figure goes to stdout (and to $OUT/gpu_issue20.txt when $OUT is set); benchmarks/README.md says how to read them.
set -uo pipefail
part=${1:-all}
log=${OUT:-/tmp}/gpu_issue20.txt
run() { echo; echo "\$ $*"; timeout 420 "$@" 2>&1 | grep -v -i warning; }
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
  if [[ $part == all || $part == 1 ]]; then
    run python benchmarks/bench_flops.py
    # the plain loop (bf16, channels-last) and the Learner with each fast-path switch alone, then together; 2 interleaved repeats
    run python benchmarks/bench_step.py --preset paper --steps 8 --repeat 2 --skip-largest --bank 48 \
        --modes bf16,channels_last,plain_dl,learner,learner+cl,learner+cudnn,learner+fused,learner+cl+cudnn+fused
  fi
  if [[ $part == all || $part == 2 ]]; then
    # compile: the plain loop and the Learner with a long run's defaults (compile included); the note gives the compile time
    run python benchmarks/bench_step.py --preset paper --steps 8 --repeat 1 --skip-largest --modes compile,learner+fast,learner+fast+fused
    # the largest batch that fits (bf16, doubling from 12)
    run python benchmarks/bench_step.py --preset paper --steps 2 --repeat 1 --modes bf16
    # is the GPU waiting on data? (cached paper-size volumes, 8 workers)
    run python benchmarks/bench_feed.py --preset paper --n 100 --workers 8 --kinds paired
  fi
} | tee "$log"
