"""Batch screening (`xcardia predict --table`, `xcardia.predict.screen`): studies/s on this machine with 0 and with 2
DataLoader workers, and the seconds to read and preprocess each shared real CT at a preset's geometry (the floor of a
CPU-bound archive). The bundle holds an untrained model of the preset's size: speed does not depend on the weights.
Usage: python benchmarks/bench_screen.py [--preset small] [--patients 30] [--workers 0 2] [--bs 8] [--out DIR]
On a GPU machine: python benchmarks/bench_screen.py --preset paper --patients 40 --workers 0 8 --bs 12 (studies/s, peak memory)."""
import argparse, sys, tempfile, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import show
from xcardia.core import TARGET_NAMES, get_preset, set_seed, shared_data_dir
from xcardia.data import load_ct
from xcardia.encoders import image_encoder
from xcardia.finetune import FineTuneModel
from xcardia.predict import save_bundle, load_bundle, screen
from xcardia.synthetic import make_cohort

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--preset', default='small'); ap.add_argument('--patients', type=int, default=30)
    ap.add_argument('--workers', type=int, nargs='+', default=[0, 2]); ap.add_argument('--bs', type=int, default=8)
    ap.add_argument('--out', default=None)
    a = ap.parse_args()
    root, p = Path(a.out or tempfile.mkdtemp()), get_preset(a.preset)
    set_seed(0)
    save_bundle(root/'bundle', FineTuneModel(image_encoder(p), len(TARGET_NAMES), ['stem']), [.5] * len(TARGET_NAMES), p)
    paths = make_cohort(root/'cohort', n_patients=a.patients, seed=0)
    rows = []
    for w in a.workers:
        b = load_bundle(root/'bundle')
        if torch.cuda.is_available(): torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        res = screen(b, paths['ct'], root/f'screen_w{w}.csv', bs=a.bs, num_workers=w, progress=False)
        s = time.perf_counter() - t
        rows.append({'preset': a.preset, 'workers': w, 'bs': a.bs, 'studies': res['studies'], 'seconds': s,
                     'studies/s': res['studies'] / s, 'device': str(b.device),
                     'peak GPU GiB': torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else ''})
    show(f"Screening a CT table (untrained {a.preset} model, synthetic phantoms)", rows)
    real, shared = [], shared_data_dir()
    for f in sorted((shared/'ct').iterdir()) if shared else []:
        if f.suffix == '.png' or f.name.endswith('LICENSE') or f.name.endswith('.txt'): continue
        load_ct(f, p.spacing, p.size, p.hu_window)                                      # once to warm the readers and the file cache
        t = time.perf_counter(); x = load_ct(f, p.spacing, p.size, p.hu_window)
        real.append({'CT': f.name, 'preset': a.preset, 'seconds to read and preprocess (warm)': time.perf_counter() - t, 'tensor': tuple(x.shape)})
    show(f"Reading and preprocessing the shared real CTs at the {a.preset} preset ({p.spacing} mm, {p.size}^3)", real)

if __name__ == '__main__': main()
