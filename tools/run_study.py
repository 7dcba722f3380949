"""Run a study configuration on the built-in synthetic cohort: write the cohort once where the config's `data.ct` points,
then every stage (each resumable: an interrupted study goes on where it stopped), then the report.

Usage: python tools/run_study.py examples/study_nw.yaml [--patients 800] [--fewshot-epochs 30]
       python tools/run_study.py examples/study_nw.yaml --seeds 0    # the one-seed screen (every run, seed 0)
       python tools/run_study.py examples/study_nw.yaml --smoke DIR   # the same study at the tiny size, 2 seeds, 1 epoch
       python tools/run_study.py examples/study_size.yaml --patients 300 --out ../study/size300   # one cohort size of a study
"""
import argparse, shutil, sys
import pandas as pd
from pathlib import Path
from xcardia.stages import load_config, prepare_out, run_synthetic_data, say, stage_done
from xcardia.cli import run_all

def publish(cfg:dict, dest:Path)->Path:
    "The study's report tables and figures and one row per pre-training run (done.json) into `dest`."
    src = Path(cfg['out'])/'report'
    dest.mkdir(parents=True, exist_ok=True)
    for f in list(src.glob('*.csv')) + list(src.glob('*.png')): shutil.copy2(f, dest/f.name)   # not report.md: Quarto would render it as a page
    rows = {}
    for d in sorted((Path(cfg['out'])/'pretrain').iterdir()):
        if (info := stage_done(d)):
            r = {k: v for k, v in info.items() if not isinstance(v, dict)}
            r.update({f"retrieval_{k}": v for k, v in (info.get('retrieval') or {}).items()})
            r.update({f"grad_{k}": v for k, v in (info.get('grad_norms_last_epoch') or {}).items() if k != 'epoch'})
            rows[d.name] = r
    pd.DataFrame(rows).T.rename_axis('run').to_csv(dest/'pretrain_runs.csv')
    (dest/'command.txt').write_text(' '.join(['python'] + sys.argv) + '\n')
    return dest

def only_seeds(cfg:dict, seeds:list)->dict:
    "The configuration restricted to `seeds`: runs with their own seeds keep those among them; a run left with none is not trained (said)."
    runs, methods = {}, list(cfg['finetune']['methods'])
    for r, spec in cfg['pretrain']['runs'].items():
        keep = [s for s in spec.get('seeds', seeds) if s in seeds]
        if keep: runs[r] = {**spec, 'seeds': keep} if 'seeds' in spec else spec
        else: say(f"--seeds {seeds}: run {r} (seeds {spec['seeds']}) is left out"); methods = [m for m in methods if m != r]
    return load_config({**cfg, 'seeds': seeds, 'seed': seeds[0], 'pretrain': {**cfg['pretrain'], 'runs': runs},
                        'finetune': {**cfg['finetune'], 'methods': methods}}, check_files=False)

def relocate(cfg, out:Path, **changes):
    "The configuration writing into `out`: its cohort in `out/data`, its cache in `out/cache`; `changes` merged section by section."
    data = {k: str(out/'data'/Path(cfg['data'][k]).name) for k in ('ct', 'echo', 'ecg')}
    return load_config(cfg.to_dict() | {'out': str(out), 'cache_dir': str(out/'cache')} | changes
                       | {'data': {**cfg['data'], **data, **changes.get('data', {})}}, check_files=False)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('config'); ap.add_argument('--patients', type=int, default=800)
    ap.add_argument('--fewshot-epochs', type=int, default=30)
    ap.add_argument('--seeds', type=int, nargs='+', help="train only these of the config's seeds (e.g. `--seeds 0`: a one-seed screen)")
    ap.add_argument('--publish', help='copy the report\'s tables and figures, and a summary of every pre-training run, into this folder (committed; e.g. nbs/study_nw)')
    ap.add_argument('--smoke', help='run at the tiny size into this folder (40 patients, seeds 0 and 1, one epoch)')
    ap.add_argument('--out', help="write into this folder instead of the config's `out` (its cohort, cache and runs; e.g. one folder per cohort size)")
    a = ap.parse_args()
    cfg = load_config(a.config, check_files=False)
    if a.seeds: cfg = only_seeds(cfg, a.seeds)
    if a.smoke:
        out = Path(a.smoke).resolve(); a.patients, a.fewshot_epochs = 40, 2
        cfg = relocate(cfg, out, preset='tiny', seeds=[0, 1], pretrain={**cfg['pretrain'].to_dict(), 'epochs': 1},
                       finetune={**cfg['finetune'].to_dict(), 'epochs': 1}, evaluate={**cfg['evaluate'].to_dict(), 'n_boot': 100})
    elif a.out: cfg = relocate(cfg, Path(a.out).resolve())
    prepare_out(cfg)
    run_synthetic_data(cfg, a.patients)
    res = run_all(cfg, a.fewshot_epochs)
    say(f"study report: {res['report']}")
    if a.publish: say(f"published: {publish(cfg, Path(a.publish))}")

if __name__ == '__main__': main()
