"""CT preprocessing and feeding: volumes/s from DICOM/NIfTI to the preset's tensor, uncached vs cached, by DataLoader
workers; bytes per cached volume.

    python benchmarks/bench_data.py --preset small --n 40
    python benchmarks/bench_data.py --preset paper --n 24 --workers 0,4,8,16
"""
import argparse, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import show
from xcardia.core import get_preset
from xcardia.data import CTCache
from xcardia.synthetic import make_cohort

ap = argparse.ArgumentParser()
ap.add_argument('--preset', default='small'); ap.add_argument('--n', type=int, default=40); ap.add_argument('--workers', default='0,2')
a = ap.parse_args(); p = get_preset(a.preset)
tmp = Path(tempfile.mkdtemp())
paths = make_cohort(tmp/'c', n_patients=a.n, studies_per_patient=(1, 1), seed=0, spacing_range=(1.5, 2.5) if p.name == 'paper' else (4., 7.))
import pandas as pd
ct = pd.read_csv(paths['ct']); files = [str(tmp/'c'/f) for f in ct.image_path]
n_dicom = sum(not f.endswith('.nii.gz') for f in files)

class Vols(torch.utils.data.Dataset):
    def __init__(self, cache): self.cache = cache
    def __len__(self): return len(files)
    def __getitem__(self, i): return self.cache(files[i])

rows = []
for w in [int(x) for x in a.workers.split(',')]:
    for state in ('uncached', 'cached'):
        cdir = tmp/f'cache{w}'
        cache = CTCache(cdir, p.spacing, p.size, p.hu_window)
        dl = torch.utils.data.DataLoader(Vols(cache), batch_size=4, num_workers=w)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            t = time.perf_counter(); n = sum(len(b) for b in dl); dt = time.perf_counter() - t
        rows.append(dict(workers=w, state=state, volumes=n, vol_per_s=n / dt))
size = np.mean([f.stat().st_size for f in (tmp/'cache0').glob('*.npy')])
show(f"CT preprocessing, preset {p.name} ({p.spacing} mm, {p.size}^3; {len(files)} phantoms, {n_dicom} of them DICOM series)", rows)
print(f"\nBytes per cached volume: {size / 2**20:.2f} MiB (float16, {p.size}^3)")
