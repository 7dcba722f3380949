"Label derivation against a plain row-by-row reference, presets and the shared data folder."
import math, os, random, warnings
import numpy as np, pandas as pd, pytest
from xcardia.core import *

GRADES = ['none', 'Absent', 'NORMAL', 'no', 'N', 'trace', 'trivial', 'mild', 'Mild-Moderate', 'mild to moderate',
          'moderate', 'Moderate-Severe', 'moderate to severe', 'severe', None, '']
SCALE = {'none': 0, 'absent': 0, 'normal': 0, 'no': 0, 'n': 0, 'trace': 1, 'trivial': 1, 'mild': 2,
         'mild-moderate': 2.5, 'mild to moderate': 2.5, 'moderate': 3, 'moderate-severe': 3.5,
         'moderate to severe': 3.5, 'severe': 4}

def ref_row(r):
    "The rules of DESIGN.md, written out for one exam with plain Python."
    def num(v): return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
    def grade(v): return None if v is None or v == '' else SCALE[v.strip().lower()]
    def ge(v, t): return None if v is None else float(v >= t)
    out = {}
    lvef = num(r['lvef']); out['lvef_le45'] = None if lvef is None else float(lvef <= 45)
    walls = [num(r['ivs']), num(r['lvpw'])]
    if any(w is not None and w >= 13 for w in walls): out['lvwt_ge13'] = 1.
    elif all(w is not None for w in walls): out['lvwt_ge13'] = 0.
    else: out['lvwt_ge13'] = None
    g = grade(r['as_grade'])
    out['aortic_stenosis'] = ge(g, 3) if g is not None else ge(num(r['av_vmax']), 3.0)
    for name, c in [('aortic_regurgitation', 'ar_grade'), ('mitral_regurgitation', 'mr_grade'),
                    ('tricuspid_regurgitation', 'tr_grade'), ('pulmonary_regurgitation', 'pr_grade')]:
        out[name] = ge(grade(r[c]), 3)
    out['pasp_ge45'] = ge(num(r['pasp']), 45)
    out['tr_vmax_ge32'] = ge(num(r['tr_vmax']), 3.2)
    nine = list(out.values())
    out['shd'] = 1. if 1. in nine else (0. if all(v is not None for v in nine) else None)
    return out

def random_echo(n, seed):
    rng = random.Random(seed)
    def maybe(v): return None if rng.random() < 0.25 else v
    rows = []
    for _ in range(n):
        rows.append(dict(lvef=maybe(rng.choice([44.9, 45.0, 45.1, rng.uniform(10, 80)])),
                         ivs=maybe(rng.choice([12.9, 13.0, rng.uniform(6, 20)])),
                         lvpw=maybe(rng.choice([12.9, 13.0, rng.uniform(6, 20)])),
                         av_vmax=maybe(rng.choice([2.99, 3.0, rng.uniform(0.8, 5)])),
                         pasp=maybe(rng.choice([44.9, 45.0, rng.uniform(15, 80)])),
                         tr_vmax=maybe(rng.choice([3.19, 3.2, rng.uniform(1, 5)])),
                         **{c: rng.choice(GRADES) for c in ['as_grade', 'ar_grade', 'mr_grade', 'tr_grade', 'pr_grade']}))
    return rows

def test_derive_labels_matches_reference():
    rows = random_echo(2000, seed=1)
    lab = derive_labels(pd.DataFrame(rows))
    assert list(lab.columns) == list(TARGET_NAMES)
    for i, r in enumerate(rows):
        ref = ref_row(r)
        for name, v in ref.items():
            got = lab[name].iloc[i]
            if v is None: assert np.isnan(got), (i, name, r)
            else: assert got == v, (i, name, r, got, v)

def test_missing_never_becomes_a_label():
    "A row with every measurement missing has every label missing (the NaN-to-positive trap)."
    cols = ['lvef', 'ivs', 'lvpw', 'av_vmax', 'pasp', 'tr_vmax', 'as_grade', 'ar_grade', 'mr_grade', 'tr_grade', 'pr_grade']
    lab = derive_labels(pd.DataFrame({c: [np.nan, None] for c in cols}))
    assert lab.isna().all().all()

def test_prefix_and_index_preserved():
    rows = random_echo(50, seed=2)
    df = pd.DataFrame(rows, index=np.arange(100, 150)).add_prefix('echo_').assign(echo_gap_days=3)
    lab = derive_labels(df, prefix='echo_')
    assert (lab.index == df.index).all()
    pd.testing.assert_frame_equal(lab.reset_index(drop=True), derive_labels(pd.DataFrame(rows)))

def test_unknown_grade_names_column_value_and_words():
    with pytest.raises(ValueError, match=r"'tr_grade'.*'mod\.'.*moderate to severe"):
        derive_labels(pd.DataFrame(random_echo(3, 0)).assign(tr_grade='mod.'))

def test_presets_explicit_arguments_win():
    assert get_preset('paper', bs=2).bs == 2 and get_preset('paper').bs == 12
    assert get_preset('small', epochs=None).epochs == PRESETS['small'].epochs

def test_shared_data_dir_same_from_root_and_nbs(monkeypatch):
    root = repo_root()
    assert root is not None and (root/'settings.ini').is_file()
    monkeypatch.delenv('XCARDIA_SHARED', raising=False)
    from_root = shared_data_dir()
    monkeypatch.chdir(root/'nbs')
    assert shared_data_dir() == from_root
    if from_root is not None: assert from_root == (root.parent/'shared'/'data').resolve()

def test_shared_data_required_under_ci(monkeypatch, tmp_path):
    monkeypatch.setenv('XCARDIA_SHARED', str(tmp_path/'absent'))
    monkeypatch.setenv('CI', 'true')
    import xcardia.core as core
    monkeypatch.setattr(core, 'repo_root', lambda start=None: tmp_path)
    with pytest.raises(FileNotFoundError, match='CI=true'): core.shared_data_dir()
