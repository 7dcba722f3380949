"Mechanisms of a pre-training fit watched in real fits: a resumed run keeps the best epoch; the bank encoding leaves BatchNorm alone."
import warnings
import numpy as np, pandas as pd, pytest, torch
from fastai.callback.core import Callback, CancelFitException
from xcardia.core import set_seed
from xcardia.synthetic import make_cohort
from xcardia.matching import match_exams, split_patients
from xcardia.data import make_dls
from xcardia.pretrain import pretrain_learner, encode_bank, bn_batch_stats, SupportBankCallback
from xcardia.train import fit_cosine, resume

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('fit')
    paths = make_cohort(tmp/'cohort', n_patients=24, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        cohort, _ = match_exams(paths['ct'], paths['echo'], paths['ecg'])
    cohort['split'] = split_patients(cohort, seed=0)
    return tmp, cohort

class StopAfter(Callback):
    "An interrupted run: stop after `n` epochs, once the checkpoint is written."
    order = 100
    def __init__(self, n): self.n = n
    def after_epoch(self):
        if self.epoch + 1 >= self.n: raise CancelFitException()

class Snapshots(Callback):
    "The model's weights after every epoch's validation."
    order = 100
    def before_fit(self): self.states = {}
    def after_epoch(self): self.states[self.epoch] = {k: v.clone() for k, v in self.learn.model.state_dict().items()}

class Worsen(Callback):
    "Add 10 to every validation loss from epoch `start` on, so those epochs are certainly worse than the earlier ones."
    def __init__(self, start): self.start = start
    def after_loss(self):
        if not self.training and self.epoch >= self.start: self.learn.loss = self.learn.loss + 10

def test_resumed_run_keeps_the_best_epoch(tiny):
    tmp, cohort = tiny
    def learner(cbs=()):
        set_seed(0)
        dls = make_dls(cohort, kind='paired', preset='tiny', cache_dir=tmp/'cache', bs=4)
        return pretrain_learner(dls, 'mmcl', path=tmp/'run', patience=3, cbs=list(cbs))
    snaps = Snapshots()
    first = learner([snaps, StopAfter(2)])
    with first.no_bar(), first.no_logging(): fit_cosine(first, 4, 1e-3)
    again = learner([Worsen(2)])
    assert resume(again, tmp/'run'/'checkpoint.pth') == 2
    stop = again.cbs.filter(lambda c: type(c).__name__ == 'EarlyStopping')[0]
    with again.no_bar(), again.no_logging(): fit_cosine(again, 4, 1e-3)
    h = pd.read_csv(tmp/'run'/'history.csv')
    assert h.epoch.tolist() == [0, 1, 2, 3] and h.valid_loss[2:].min() > h.valid_loss[:2].max()   # the resumed epochs are worse
    best = int(h.valid_loss.idxmin())
    saved = torch.load(tmp/'run'/'models'/'best.pth', map_location='cpu', weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in snaps.states[best].items())   # best.pth is the best epoch of the whole run
    assert stop.wait == 3 - best                                                    # patience counted on from the best epoch

def nw_learner(tiny, name:str):
    "Seeded tiny DataLoaders (batch 4) and an NW+MMCL Learner on them, in its own folder."
    tmp, cohort = tiny
    set_seed(0)
    dls = make_dls(cohort, kind='paired', preset='tiny', cache_dir=tmp/'cache', bs=4)
    return dls, pretrain_learner(dls, 'nw_mmcl', path=tmp/name, k_support=4, refresh_every=1)

def test_bank_encoding_uses_batch_statistics_and_leaves_running_ones(tiny):
    dls, learn = nw_learner(tiny, 'bank')
    model = learn.model
    sd0 = {k: v.clone() for k, v in model.state_dict().items()}
    dl = dls.train.new(shuffle=False, drop_last=False)
    e = encode_bank(model, dl)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in sd0.items()) and model.training   # nothing moved, mode restored
    n = len(dls.train_ds)
    assert e['z'].shape[0] == n and sorted(e['idx'].tolist()) == sorted(dls.train_ds.rows.tolist())
    ct, xn, xc, y, idx = next(iter(dl))          # the first batch: batch statistics, dropout off = bn_batch_stats
    with torch.no_grad(), bn_batch_stats(model): ref = model(ct, xn, xc)[0]
    assert torch.allclose(e['e_img'][:len(ref)], ref, atol=1e-5)
    with torch.no_grad():
        model.eval(); ev = model(ct, xn, xc)[0]; model.train()
    assert not torch.allclose(ev, ref, atol=1e-2)  # eval mode (running statistics) is another function at initialisation

def test_short_last_batch_is_merged(tiny):
    dls, learn = nw_learner(tiny, 'merge')
    ds = dls.train_ds
    ds1 = type(ds).__new__(type(ds)); ds1.__dict__.update(ds.__dict__); ds1.rows = ds.rows[:9]   # 4 + 4 + 1
    sizes = []
    class Spy(torch.nn.Module):
        def __init__(s, m): super().__init__(); s.m = m
        def forward(s, ct, *a): sizes.append(len(ct)); return s.m(ct, *a)
    e = encode_bank(Spy(learn.model), dls.train.new(ds1, shuffle=False, drop_last=False))
    assert sizes == [4, 5] and len(e['z']) == 9

def test_bad_settings_are_refused(tiny):
    tmp, cohort = tiny
    dls = make_dls(cohort, kind='paired', preset='tiny', cache_dir=tmp/'cache', bs=4)
    with pytest.raises(ValueError, match="bank must be one of"): pretrain_learner(dls, 'nw_mmcl', path=tmp/'x', bank='negatives')
    with pytest.raises(ValueError, match="bn must be one of"): SupportBankCallback(bn='eval')
    with pytest.raises(ValueError, match="at least 1 epoch"): SupportBankCallback(every=0)
