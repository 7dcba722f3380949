"""SimCLR baseline: where an epoch's time goes, with views made per item (MONAI, in the DataLoader) or per batch
(`SimCLRViews`, batched tensor ops on the training device). Prints seconds per epoch and the augmentation's own time.

    python benchmarks/bench_simclr.py --preset small --n 300
"""
import argparse, sys, tempfile, time, warnings
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import show, timeit
from xcardia.core import set_seed
from xcardia.data import make_dls, random_views, simclr_augment
from xcardia.matching import match_exams, split_patients
from xcardia.pretrain import pretrain_learner
from xcardia.synthetic import make_cohort

ap = argparse.ArgumentParser()
ap.add_argument('--preset', default='small'); ap.add_argument('--n', type=int, default=300); ap.add_argument('--epochs', type=int, default=2)
a = ap.parse_args()
tmp = Path(tempfile.mkdtemp())
paths = make_cohort(tmp/'c', n_patients=a.n, seed=0)
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    cohort, _ = match_exams(paths['ct'], paths['echo'], paths['ecg'])
cohort['split'] = split_patients(cohort, seed=0)

rows = []
for on in ('item', 'batch'):
    set_seed(0)
    dls = make_dls(cohort, kind='simclr', preset=a.preset, cache_dir=tmp/'cache', augment_on=on)
    learn = pretrain_learner(dls, 'simclr', path=tmp/on, patience=None)
    with learn.no_bar(), learn.no_logging(): learn.fit(1)            # warm-up (and cache fill)
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit(a.epochs)
    sec = (time.perf_counter() - t) / a.epochs
    x = dls.one_batch()[0][:1].cpu().expand(dls.preset.bs, -1, -1, -1, -1).contiguous().to(dls.device)
    if on == 'item':
        aug = simclr_augment(size=dls.preset.size)
        per_batch = timeit(lambda: [aug(v) for v in x.cpu()])
    else: per_batch = timeit(lambda: random_views(x))
    n_batches = len(dls.train) + len(dls.valid)
    rows.append(dict(views=on, studies=len(dls.train_ds) + len(dls.valid_ds), batch=dls.preset.bs, s_per_epoch=sec,
                     view_ms_per_batch=per_batch * 1000, views_s_per_epoch=2 * n_batches * per_batch))
show(f"SimCLR epoch, preset {a.preset}, {a.n} patients", rows)
