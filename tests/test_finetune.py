"k-shot and fraction samplers at their edges; the fine-tuning model's freezing."
import numpy as np, pandas as pd, pytest, torch
from xcardia.finetune import few_shot, fraction, FineTuneModel, macro_auroc
from xcardia.encoders import ImageEncoder

def cohort(n=40, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({'patient_id': np.repeat([f'P{i}' for i in range(n)], 2), 'a': rng.choice([0., 1., np.nan], 2 * n, p=[.6, .1, .3]),
                       'b': np.r_[np.ones(3), np.zeros(2 * n - 3)]})
    df['split'] = np.where(np.arange(2 * n) < 3 * n // 2, 'train', 'val')
    return df

def test_short_targets_are_reported_not_padded():
    df = cohort()
    with pytest.warns(UserWarning, match=r'fewer than k=5 patients for: .*b positive \(2\)'):
        fs = few_shot(df, 'split', k=5, targets=['a', 'b'])
    assert (fs.b == 1).sum() == 2 and (fs.b == 0).sum() == 5 and fs.attrs['short'][('b', 'positive')] == 2
    assert set(fs.patient_id) <= set(df.patient_id[df.split == 'train'])

def test_a_study_keeps_only_the_labels_it_was_sampled_for():
    df = cohort(200, seed=1)
    with pytest.warns(UserWarning, match='b positive'): fs = few_shot(df, 'split', k=3, targets=['a', 'b'], seed=2)
    assert fs['a'].notna().sum() == 6 and fs['b'].notna().sum() == 2 + 3    # b has only 2 positive patients
    assert (fs[['a', 'b']].notna().any(axis=1)).all()

def test_fraction_bounds():
    with pytest.raises(ValueError, match='frac'): fraction(cohort(), 'split', 0.)
    assert fraction(cohort(), 'split', .001).patient_id.nunique() == 1

def test_frozen_blocks_stay_in_eval_mode():
    m = FineTuneModel(ImageEncoder(10, d=8, widen_factor=.25), n_targets=3).train()
    assert not m.encoder.stem.training and not m.encoder.layer2.training and m.encoder.layer3.training
    assert all(not p.requires_grad for p in m.encoder.layer1.parameters()) and all(p.requires_grad for p in m.encoder.layer4.parameters())
    assert m(torch.randn(2, 1, 16, 16, 16)).shape == (2, 3)
    with pytest.raises(ValueError, match='unknown block'): FineTuneModel(ImageEncoder(10, d=8, widen_factor=.25), freeze=('layer5',))

def test_macro_auroc_matches_sklearn():
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(0); y = (rng.random((50, 3)) < .3).astype(float); y[rng.random((50, 3)) < .2] = np.nan; p = rng.random((50, 3))
    ref = np.mean([roc_auc_score(y[~np.isnan(y[:, c]), c], p[~np.isnan(y[:, c]), c]) for c in range(3)])
    assert macro_auroc(p, y) == pytest.approx(ref)
