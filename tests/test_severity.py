"""Severity targets (#29): their configuration, the loss's robustness, the bundle and the batch screening with
estimates in their units, and the fine-tuning stage writing what the report reads."""
import json
import numpy as np, pandas as pd, pytest, torch
from xcardia.config import UserError, load_config
from xcardia.core import TARGET_NAMES, get_preset, set_seed
from xcardia.encoders import image_encoder
from xcardia.finetune import FineTuneModel
from xcardia.predict import save_bundle, load_bundle, screen
from xcardia.severity import SEVERITY_NAMES, SeveritySpec, MultiTaskLoss, severity_targets, severity_values
from xcardia.synthetic import make_cohort

TARGETS = list(TARGET_NAMES)

def cfg(**finetune):
    return load_config({'out': '/tmp/x', 'data': {'ct': 'a.csv', 'echo': 'b.csv'}, **({'finetune': finetune} if finetune else {})}, check_files=False)

def test_finetune_targets_in_the_config():
    assert cfg().finetune.severity == ()                                               # default: the ten binary targets only
    assert [m.name for m in cfg(targets=['binary', 'lvef', 'mr_grade']).finetune.severity] == ['lvef', 'mr_grade']
    assert cfg(targets=TARGETS + ['pasp']).finetune.severity == severity_targets(['pasp'])   # the ten by name
    with pytest.raises(UserError, match=r"unknown name\(s\) \['EF'\].*severity targets: lvef"): cfg(targets=['binary', 'EF'])
    with pytest.raises(UserError, match=r"lacks binary target\(s\) \['lvef_le45'"): cfg(targets=['lvef'])
    with pytest.raises(UserError, match='twice'): cfg(targets=['binary', 'lvef', 'lvef'])

def test_huber_bounds_a_transcription_error():
    "One LVEF typed as 85 instead of 58: its gradient under the Huber loss is bounded, under MSE it would grow with the error."
    spec = SeveritySpec(severity_targets(['lvef']), (55.,), (10.,), ())
    loss = MultiTaskLoss(0, spec, delta=1.)
    out = torch.full((2, 1), 55., requires_grad=True)
    loss(out, torch.tensor([[58.], [85.]])).backward()
    g = out.grad[:, 0].abs()
    assert torch.isclose(g[1], torch.tensor(1 / 10 / 2))                              # linear part: delta / sd, halved by the mean over 2
    assert g[1] / g[0] < 3.5                                                          # MSE: 30 / 3 = 10 times the gradient

@pytest.fixture(scope='module')
def bundle_site(tmp_path_factory):
    root = tmp_path_factory.mktemp('sev')
    paths = make_cohort(root/'cohort', n_patients=6, seed=5, n_workers=1)
    ct = pd.read_csv(paths['ct'], dtype=str); ct.loc[2, 'image_path'] = 'ct/missing.nii.gz'; ct.to_csv(root/'cohort'/'table.csv', index=False)   # image paths are relative to the table's folder
    echo = pd.read_csv(paths['echo'])
    sev = severity_targets(['lvef', 'lvwt', 'pasp', 'mr_grade'])
    spec = SeveritySpec.fit(severity_values(echo, sev, prefix=''), sev)
    set_seed(0); p = get_preset('tiny')
    model = FineTuneModel(image_encoder(p), len(TARGETS), ['stem'], severity=spec)
    save_bundle(root/'bundle', model, [.5] * len(TARGETS), p)
    return root, paths, model, spec

def test_bundle_outputs_estimates_with_units(bundle_site):
    root, paths, model, spec = bundle_site
    man = json.loads((root/'bundle'/'bundle.json').read_text())
    assert man['severity']['outputs'] == {'lvef_pct': '%', 'lvwt_mm': 'mm', 'pasp_mmhg': 'mmHg', 'mr_grade_level': 'grade'}
    b = load_bundle(root/'bundle', device='cpu')
    assert b.severity == spec
    ct = pd.read_csv(paths['ct'], dtype=str)
    files = [str(paths['ct'].parent/f) for f in ct.image_path[:3]]
    pred = b.predict(files)
    assert list(pred.columns[-4:]) == ['lvef_pct', 'lvwt_mm', 'pasp_mmhg', 'mr_grade_level']
    with torch.no_grad(): raw = model.eval()(torch.stack([b.load(f) for f in files])).numpy()
    np.testing.assert_allclose(pred[['lvef_pct', 'lvwt_mm', 'pasp_mmhg']].to_numpy(), raw[:, 10:13], rtol=1e-5)   # in units, unscaled
    assert abs(pred.lvef_pct.mean() - spec.mean[0]) < 3 * spec.sd[0]                   # an untrained head sits near the training mean
    assert set(pred.mr_grade_level) <= {0., 1., 2., 3., 4.}

def test_screening_writes_estimates_and_leaves_failures_empty(bundle_site):
    root, paths, model, spec = bundle_site
    b = load_bundle(root/'bundle', device='cpu')
    res = screen(b, root/'cohort'/'table.csv', root/'screen.csv', bs=2, progress=False)
    sc = pd.read_csv(root/'screen.csv', dtype={'study_id': str})
    assert (res['ok'], res['failed']) == (len(sc) - 1, 1) and 'no such file' in sc.error[2]
    ok = sc.error.isna()
    assert sc.loc[~ok, ['lvef_pct', 'mr_grade_level']].isna().all().all()
    ct = pd.read_csv(root/'cohort'/'table.csv', dtype=str)
    direct = b.predict([str(paths['ct'].parent/f) for f in ct.image_path[ok.to_numpy()]])
    np.testing.assert_allclose(sc.loc[ok, 'lvef_pct'].to_numpy(), direct.lvef_pct.to_numpy(), rtol=1e-5)
