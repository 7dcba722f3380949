"""Evaluation: per-target metrics with patient-bootstrap CIs and paired comparisons, 1,000 resamples, 10 targets, as
computed by the library (vectorised weighted metrics) and by the straightforward scikit-learn loop it replaced.

    python benchmarks/bench_evaluate.py --n 300
"""
import argparse, sys, time
from pathlib import Path
import numpy as np
from sklearn.metrics import roc_auc_score, average_precision_score, f1_score
sys.path.insert(0, str(Path(__file__).parent))
from common import show
from xcardia.evaluate import evaluate, compare, patient_bootstrap

ap = argparse.ArgumentParser(); ap.add_argument('--n', type=int, default=300); ap.add_argument('--n-boot', type=int, default=1000)
a = ap.parse_args()
rng = np.random.default_rng(0); n = a.n
pids = np.repeat(np.arange(n // 2), 2); y = (rng.random((n, 10)) < .2).astype(float); y[rng.random((n, 10)) < .2] = np.nan
pa = np.clip(np.nan_to_num(y, nan=.5) * .3 + rng.random((n, 10)) * .7, 0, 1); pb = rng.random((n, 10))

def sklearn_loop():
    "The per-resample scikit-learn loop (the library's code before the change): AUROC, AP and F1 per target."
    boots = list(patient_bootstrap(pids, a.n_boot, 0)); out = []
    for c in range(10):
        ok = ~np.isnan(y[:, c]); where = np.full(n, -1); where[np.flatnonzero(ok)] = np.arange(ok.sum()); p, yc = pa[ok, c], y[ok, c]
        for rows in boots:
            r = where[rows]; r = r[r >= 0]
            if len(np.unique(yc[r])) == 2: out.append((roc_auc_score(yc[r], p[r]), average_precision_score(yc[r], p[r]), f1_score(yc[r], p[r] >= .5)))
    return out

rows = []
t = time.perf_counter(); sklearn_loop(); rows.append(dict(what='evaluate, scikit-learn per resample (before)', seconds=time.perf_counter() - t))
t = time.perf_counter(); evaluate(pa, y, pids, pa, y, n_boot=a.n_boot); rows.append(dict(what='evaluate (library, weighted metrics)', seconds=time.perf_counter() - t))
t = time.perf_counter(); compare(pa, pb, y, pids, n_boot=a.n_boot); rows.append(dict(what='compare (library)', seconds=time.perf_counter() - t))
show(f"Evaluation of one method: {n} test studies, 10 targets, {a.n_boot} patient resamples", rows)
