"""`xcardia pretrain` on one process against two under torchrun (gloo on the CPU, nccl on GPUs), at the same global
batch, as a user runs it: training studies per second (whole job and per process) and wall time per epoch, from the
run's own history.csv (the epochs after the first), and the job's wall time.

Usage: python benchmarks/bench_ddp.py [--preset small] [--patients 800] [--epochs 3] [--bs 32] [--procs 2] [--out DIR]
Run it alone: on a 2-core CPU two processes share the cores with anything else that runs.
"""
import argparse, copy, json, os, shutil, subprocess, sys, time
from pathlib import Path
import pandas as pd, yaml
from xcardia.stages import demo_config, prepare_out, run_synthetic_data, run_cohort

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', default='small'); ap.add_argument('--patients', type=int, default=800)
    ap.add_argument('--epochs', type=int, default=3); ap.add_argument('--bs', type=int, default=32, help='global batch')
    ap.add_argument('--procs', type=int, default=2); ap.add_argument('--out', default='bench_ddp_out')
    a = ap.parse_args()
    out = Path(a.out).resolve()
    for p in out.glob('p*'): shutil.rmtree(p) if p.is_dir() else p.unlink()     # the runs go; the cohort and its CT cache stay
    cfg = demo_config(out/'data_run', a.preset).updated(pretrain=dict(variants=['nw_mmcl'], epochs=a.epochs, patience=None),
                                                        finetune=dict(methods=['nw_mmcl', 'none']))
    prepare_out(cfg); run_synthetic_data(cfg, a.patients); run_cohort(cfg)      # each skipped when already there
    threads = max(1, (os.cpu_count() or 1) // a.procs)
    rows = []
    for procs in (1, a.procs):
        c = cfg.to_dict(); c['out'] = str(out/f'p{procs}'); c['pretrain']['bs'] = a.bs // procs
        shutil.copytree(out/'data_run'/'cohort', out/f'p{procs}'/'cohort')    # the CT cache (cache_dir) is shared: filled by the first run
        f = out/f'p{procs}.yaml'; f.write_text(yaml.safe_dump(c))
        launch = [sys.executable] if procs == 1 else [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(procs)]
        env = {**os.environ, 'OMP_NUM_THREADS': str(threads if procs > 1 else os.cpu_count() or 1)}
        t0 = time.perf_counter()
        r = subprocess.run(launch + ['-m', 'xcardia.cli', 'pretrain', str(f)], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode: sys.exit(f"{procs} process(es) failed:\n{(r.stdout + r.stderr)[-3000:]}")
        run = out/f'p{procs}'/'pretrain'/'nw_mmcl'
        hist, done = pd.read_csv(run/'history.csv'), json.loads((run/'done.json').read_text())
        secs = hist.time.map(lambda t: 60 * int(t.split(':')[0]) + int(t.split(':')[1]))
        epoch_s = secs.iloc[1:].mean() if len(secs) > 1 else secs.iloc[0]      # warm epochs (the log rounds to seconds)
        n_train = pd.read_parquet(out/'data_run'/'cohort'/'pretrain.parquet').split.eq('train').sum()
        rows.append({'processes': procs, 'threads each': env['OMP_NUM_THREADS'], 'batch per process': a.bs // procs,
                     'epoch s (warm)': epoch_s, 'studies/s (job)': n_train / max(epoch_s, 1), 'studies/s per process': n_train / max(epoch_s, 1) / procs,
                     'stage s': done['seconds'], 'job wall s': round(wall, 1), 'last train loss': hist.train_loss.iloc[-1]})
    print(f"{a.preset} preset, {n_train} training studies, global batch {a.bs}, {a.epochs} epochs, {os.cpu_count()} CPU cores")
    with pd.option_context('display.width', 200, 'display.max_columns', 20): print(pd.DataFrame(rows).round(3).to_string(index=False))

if __name__ == '__main__': main()
