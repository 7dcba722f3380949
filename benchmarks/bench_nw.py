"""NW head and support-bank refresh: time and peak memory by bank size and query batch; k-means selection time.

    python benchmarks/bench_nw.py [--device cpu|cuda] [--d 128]
"""
import argparse, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import timeit, show
from xcardia.nw import NWHead, select_support
from xcardia.core import peak_memory

ap = argparse.ArgumentParser(); ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu'); ap.add_argument('--d', type=int, default=128)
a = ap.parse_args(); dev = torch.device(a.device)
g = torch.Generator().manual_seed(0)
rows = []
for bank in (200, 2000, 20000):
    for q in (12, 512, 4096):
        head = NWHead(.1).to(dev)
        z = torch.nn.functional.normalize(torch.randn(bank, a.d, generator=g), dim=1)
        y = (torch.rand(bank, 10, generator=g) < .2).float()
        head.set_support(z.to(dev), y.to(dev))
        x = torch.nn.functional.normalize(torch.randn(q, a.d, generator=g), dim=1).to(dev)
        if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
        with torch.no_grad():
            t = timeit(lambda: head(x), repeat=3)
            if dev.type == 'cuda': peak = (torch.cuda.max_memory_allocated() - base) / 2**20
            else:
                with peak_memory() as pm: head(x)
                peak = pm.peak / 2**20 if hasattr(pm, 'peak') else float('nan')
        rows.append(dict(bank=bank, queries=q, ms=t * 1e3, peak_extra_MiB=peak))
show(f'NW head forward (d={a.d}, 10 phenotypes, {a.device})', rows)
rows = []
for n in (2000, 20000):
    z = torch.nn.functional.normalize(torch.randn(n, a.d, generator=g), dim=1); y = (torch.rand(n, 10, generator=g) < .2).float()
    t = time.perf_counter(); select_support(z, y, k=20, seed=0); rows.append(dict(embeddings=n, k=20, seconds=time.perf_counter() - t))
show('Support-bank selection (k-means per phenotype, scikit-learn)', rows)
