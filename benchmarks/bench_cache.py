"""Filling the CT cache before pre-training (`xcardia cache`): one process against several under torchrun, each filling
its share of the cohort's CTs, into empty caches. Prints CTs per second.

    python benchmarks/bench_cache.py --patients 200 --procs 1 2 [--preset small] [--archive]
"""
import argparse, os, shutil, subprocess, sys, time
from pathlib import Path
import yaml

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--patients', type=int, default=200); ap.add_argument('--preset', default='small')
    ap.add_argument('--procs', type=int, nargs='+', default=[1, 2]); ap.add_argument('--out', default='bench_cache')
    ap.add_argument('--archive', action='store_true', help='the CTs as a DICOM export (read through `xcardia index`), not NIfTI')
    a = ap.parse_args()
    from xcardia.stages import demo_config, prepare_out, run_synthetic_data, run_cohort, read_cohort_stage
    out = Path(a.out).resolve(); shutil.rmtree(out, ignore_errors=True)
    cfg = demo_config(out/'base', a.preset, archive=a.archive)
    prepare_out(cfg); run_synthetic_data(cfg, a.patients, archive=a.archive); run_cohort(cfg)
    import pandas as pd
    n = len(set(pd.concat([read_cohort_stage(cfg, w).image_path for w in ('labelled', 'pretrain')])))
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    print(f"{n} distinct CTs, preset {a.preset} ({'DICOM series' if a.archive else 'NIfTI'}), {os.cpu_count()} cores")
    for p in a.procs:
        c = cfg.to_dict(); c['out'], c['cache_dir'] = str(out/f'p{p}'), str(out/f'p{p}'/'cache')
        shutil.copytree(out/'base'/'cohort', out/f'p{p}'/'cohort')
        f = out/f'p{p}.yaml'; f.write_text(yaml.safe_dump(c))
        cmd = ([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(p)] if p > 1 else [sys.executable])
        t0 = time.perf_counter()
        r = subprocess.run(cmd + ['-m', 'xcardia.cli', 'cache', str(f)], env=env, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if r.returncode: sys.exit(r.stdout[-2000:] + r.stderr[-2000:])
        print(f"{p} process(es): {dt:.1f} s wall (launcher and imports included), {n / dt:.2f} CTs/s")

if __name__ == '__main__': main()
