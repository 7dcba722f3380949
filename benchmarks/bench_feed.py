"""Is training waiting on data? One pre-training epoch per setting with a callback that clocks the time between the end
of one batch and the start of the next (the DataLoader producing the batch) against the whole epoch.

    python benchmarks/bench_feed.py --preset small --n 300 --workers 0,2
    python benchmarks/bench_feed.py --preset paper --n 60 --workers 0,4,8      # on a GPU machine
"""
import argparse, sys, tempfile, time, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from common import show
from fastai.callback.core import Callback
from xcardia.core import set_seed
from xcardia.data import make_dls
from xcardia.matching import match_exams, split_patients
from xcardia.pretrain import pretrain_learner
from xcardia.synthetic import make_cohort

class DataWait(Callback):
    "Seconds spent waiting for the next training batch, and in the whole training epoch."
    order = -100
    def before_epoch(self): self.wait, self.t_epoch = 0., time.perf_counter(); self.t_last = self.t_epoch
    def before_batch(self):
        if self.training: self.wait += time.perf_counter() - self.t_last
    def after_batch(self): self.t_last = time.perf_counter()
    def after_train(self): self.train_s = time.perf_counter() - self.t_epoch

ap = argparse.ArgumentParser()
ap.add_argument('--preset', default='small'); ap.add_argument('--n', type=int, default=300)
ap.add_argument('--workers', default='0,2'); ap.add_argument('--kinds', default='paired,simclr')
ap.add_argument('--opts', default='fused', help="optimizers to compare: fused (FusedAdamW, the default), fastai (fastai's Adam, before 2026-11-30)")
a = ap.parse_args()
tmp = Path(tempfile.mkdtemp())
paths = make_cohort(tmp/'c', n_patients=a.n, seed=0, **({'spacing_range': (1.5, 2.5)} if a.preset == 'paper' else {}))
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    cohort, _ = match_exams(paths['ct'], paths['echo'], paths['ecg'])
cohort['split'] = split_patients(cohort, seed=0)

rows = []
for kind in a.kinds.split(','):
    for w, opt in [(int(x), o) for x in a.workers.split(',') for o in a.opts.split(',')]:
        set_seed(0)
        dls = make_dls(cohort, kind=kind, preset=a.preset, cache_dir=tmp/'cache', num_workers=w)
        dw = DataWait()
        learn = pretrain_learner(dls, 'simclr' if kind == 'simclr' else 'nw_mmcl', path=tmp/f'{kind}{w}{opt}', patience=None, cbs=[dw],
                                 fused_adamw=opt == 'fused')
        with learn.no_bar(), learn.no_logging(): learn.fit(1)        # warm-up: fills the cache
        with learn.no_bar(), learn.no_logging(): learn.fit(1)
        n = len(dls.train) * dls.train.bs
        rows.append(dict(kind=kind, workers=w, optimizer=opt, train_studies=n, train_s=dw.train_s, waiting_s=dw.wait,
                         waiting_share=dw.wait / dw.train_s, studies_per_s=n / dw.train_s))
show(f"Waiting on data during pre-training, preset {a.preset}, {a.n} patients", rows)
