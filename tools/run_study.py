"""Run a study configuration on the built-in synthetic cohort: write the cohort once where the config's `data.ct` points,
then every stage (each resumable: an interrupted study goes on where it stopped), then the report.

Usage: python tools/run_study.py examples/study_nw.yaml [--patients 800] [--fewshot-epochs 30]
       python tools/run_study.py examples/study_nw.yaml --smoke DIR   # the same study at the tiny size, 2 seeds, 1 epoch
"""
import argparse
from pathlib import Path
from xcardia.stages import load_config, prepare_out, run_synthetic_data, say
from xcardia.cli import run_all

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('config'); ap.add_argument('--patients', type=int, default=800)
    ap.add_argument('--fewshot-epochs', type=int, default=30)
    ap.add_argument('--smoke', help='run at the tiny size into this folder (40 patients, seeds 0 and 1, one epoch)')
    a = ap.parse_args()
    cfg = load_config(a.config, check_files=False)
    if a.smoke:
        out = Path(a.smoke).resolve(); a.patients, a.fewshot_epochs = 40, 2
        cfg = load_config({**cfg, 'out': str(out), 'preset': 'tiny', 'seeds': [0, 1], 'cache_dir': str(out/'cache'),
                           'data': {**cfg['data'], **{k: str(out/'data'/Path(cfg['data'][k]).name) for k in ('ct', 'echo', 'ecg')}},
                           'pretrain': {**cfg['pretrain'], 'epochs': 1}, 'finetune': {**cfg['finetune'], 'epochs': 1},
                           'evaluate': {**cfg['evaluate'], 'n_boot': 100}}, check_files=False)
    prepare_out(cfg)
    run_synthetic_data(cfg, a.patients)
    res = run_all(cfg, a.fewshot_epochs)
    say(f"study report: {res['report']}")

if __name__ == '__main__': main()
