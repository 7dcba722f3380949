"CT loading on real files, the cache, bad inputs in both modes, train-only tabular fitting, batches."
import shutil, warnings
from pathlib import Path
import nibabel as nib, numpy as np, pandas as pd, pydicom, pytest, torch
from xcardia.core import shared_data_dir, get_preset
import xcardia.data as xd
from xcardia.data import (CTReadError, LoadCT, CTCache, apply_ct, ct_transforms, load_ct, make_dls,
                          TabularPreprocessor, tabular_columns)

DATA = shared_data_dir()
needs_data = pytest.mark.skipif(DATA is None, reason='no shared/data folder beside the checkout')
REAL = ['tcia_lung_dx_A0002_thorax_dicom', 'pyradiomics_lung2_image.nrrd']

@needs_data
@pytest.mark.parametrize('name', REAL)
@pytest.mark.parametrize('spacing,size', [(2.0, 164), (6.875, 32)])
def test_real_ct_spacing_orientation_hu(name, spacing, size):
    path = DATA/'ct'/name
    orig = LoadCT()(path)[0].numpy()
    out = ct_transforms(spacing, size, hu_window=None, antialias=False)(path)   # point sampling: HU values kept
    assert tuple(out.shape) == (1, size, size, size)
    diag = np.diag(out.affine.numpy())[:3]
    assert np.allclose(diag, spacing, atol=1e-4)            # isotropic, and positive: RAS
    v = out[0].numpy()
    # HU preserved before scaling: body (> -500 HU) within 20 HU, air (< -900 HU) within 30 HU
    # (air outside the scanned field is padded with -1024); measured: at most 14 and 21 HU.
    assert abs(v[v > -500].mean() - orig[orig > -500].mean()) < 20
    assert abs(v[v < -900].mean() - orig[orig < -900].mean()) < 30
    centre = np.array(np.nonzero(v > -500)).mean(1) / size
    assert ((centre > 1 / 3) & (centre < 2 / 3)).all(), centre
    smooth = ct_transforms(spacing, size, hu_window=None)(path)                # anti-aliased: a local average,
    assert abs(float(smooth.mean()) - float(out.mean())) < 10                   # so the mean HU of the crop stays
    scaled = load_ct(path, spacing, size)
    assert scaled.min() >= -1 and scaled.max() <= 1 and scaled.dtype == torch.float32

def write_nifti(path, vol, spacing=(5., 5., 6.)):
    nib.save(nib.Nifti1Image(np.asarray(vol, dtype=np.float32), np.diag([*spacing, 1.])), str(path)); return path

def good_volume(seed=0, shape=(30, 30, 24)):
    x, y, _ = np.meshgrid(*[np.arange(s) - s / 2 for s in shape], indexing='ij')
    return np.where(x ** 2 + y ** 2 < 80, 40., -1000.) + np.random.default_rng(seed).normal(0, 5, shape)

def test_cache_hit_does_not_recompute_and_parameters_invalidate(tmp_path, monkeypatch):
    p = write_nifti(tmp_path/'a.nii.gz', good_volume())
    calls = []
    real = xd.apply_ct
    monkeypatch.setattr(xd, 'apply_ct', lambda tfm, path: calls.append(path) or real(tfm, path))
    c = CTCache(tmp_path/'cache', spacing=8., size=16)
    a = c(p); b = c(p)
    assert len(calls) == 1 and torch.allclose(a, b, atol=2e-3)
    assert np.load(next((tmp_path/'cache').glob('*.npy'))).dtype == np.float16
    CTCache(tmp_path/'cache', spacing=8., size=16, hu_window=(-500, 500))(p)
    assert len(calls) == 2
    CTCache(tmp_path/'cache', spacing=8., size=16)(p)                 # a new instance hits the same entry
    assert len(calls) == 2

def bad_files(tmp):
    "Each bad input the issue names, with the words its error must contain."
    out = {}
    good = write_nifti(tmp/'good.nii.gz', good_volume())
    trunc = tmp/'truncated.nii.gz'; trunc.write_bytes(good.read_bytes()[:300]); out['truncated'] = (trunc, 'cannot be read')
    out['2d'] = (write_nifti(tmp/'flat.nii.gz', good_volume(shape=(30, 30, 1))), 'not a 3D volume')
    v = good_volume(); v[3, 3, 3] = np.nan
    out['nan'] = (write_nifti(tmp/'nan.nii.gz', v), 'NaN')
    out['not_hu'] = (write_nifti(tmp/'png_like.nii.gz', np.random.default_rng(0).uniform(0, 255, (20, 20, 20))), 'no voxel below -500')
    out['far'] = (write_nifti(tmp/'far.nii.gz', np.where(good_volume() > 0, 60000., -1000.)), 'far outside')
    out['missing'] = (tmp/'absent.nii.gz', 'no such file')
    if DATA is not None:
        mr = tmp/'mr_series'; shutil.copytree(DATA/'ct'/REAL[0], mr)
        for f in mr.iterdir():
            ds = pydicom.dcmread(f); ds.Modality = 'MR'; ds.save_as(f)
        out['not_ct'] = (mr, "Modality is 'MR'")
    return good, out

def test_each_bad_file_raises_naming_file_and_problem(tmp_path):
    _, bad = bad_files(tmp_path)
    for case, (path, words) in bad.items():
        with pytest.raises(CTReadError) as e: load_ct(path, 8., 16)
        assert str(path) in str(e.value) and words in str(e.value), (case, str(e.value))
        with pytest.raises(CTReadError, match=words): CTCache(tmp_path/'c', 8., 16)(path)

def cohort_of(paths):
    n = len(paths)
    return pd.DataFrame({'patient_id': [f'P{i}' for i in range(n)], 'study_id': [f'S{i}' for i in range(n)],
                         'image_path': [str(p) for p in paths], 'echo_lvef': np.linspace(30, 70, n),
                         'echo_mr_grade': (['none', 'mild', 'moderate'] * n)[:n], 'ecg_qrs_ms': np.linspace(80, 130, n),
                         'echo_gap_days': 3., 'echo_exam_date': '2020-01-01', 'lvef_le45': (np.linspace(30, 70, n) <= 45).astype(float),
                         'split': ['train'] * (n - 2) + ['val'] * 2})

def test_bad_files_in_make_dls_both_modes(tmp_path):
    good, bad = bad_files(tmp_path)
    goods = [write_nifti(tmp_path/f'g{i}.nii.gz', good_volume(i)) for i in range(4)]
    paths = goods + [p for p, _ in bad.values()]
    cohort = cohort_of(paths); cohort['split'] = ['train'] * 2 + ['val'] * 2 + ['train'] * len(bad)
    kw = dict(preset='tiny', cache_dir=tmp_path/'dlc', targets=['lvef_le45'], bs=2)
    with pytest.raises(CTReadError): make_dls(cohort, **kw)
    dls = make_dls(cohort, skip_bad=True, **kw)
    assert sorted(Path(p).name for p, _ in dls.dropped) == sorted(Path(p).name for p, _ in bad.values())
    assert all(words in why for (p, why), (_, words) in zip(sorted(dls.dropped), sorted((str(p), w) for p, w in bad.values())))
    assert len(dls.train_ds) == 2 and len(dls.valid_ds) == 2

def test_tabular_fitted_on_train_rows_only():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({'echo_a': rng.normal(0, 1, 50), 'ecg_b': rng.normal(5, 2, 50), 'echo_c': rng.choice(['Y', 'N', None], 50)})
    df.loc[rng.random(50) < .2, 'echo_a'] = np.nan
    train = df.iloc[:30]
    tp = TabularPreprocessor(n_neighbors=5).fit(train)
    assert np.allclose(tp.scaler.mean_, train[['echo_a', 'ecg_b']].mean().to_numpy())      # pandas skips NaN like the scaler
    assert np.allclose(tp.scaler.scale_, train[['echo_a', 'ecg_b']].std(ddof=0).to_numpy())
    assert np.allclose(tp.imputer._fit_X, tp.scaler.transform(train[['echo_a', 'ecg_b']].to_numpy()), equal_nan=True)
    shifted = df.copy(); shifted.iloc[30:, :2] += 100                                       # val rows change: fit does not
    tp2 = TabularPreprocessor(n_neighbors=5).fit(shifted.iloc[:30])
    assert np.allclose(tp2.scaler.mean_, tp.scaler.mean_)
    num, cat = tp.transform(df)
    assert np.isfinite(num).all() and num.dtype == np.float32 and cat.dtype == np.int64

def test_unseen_category_and_save_load(tmp_path):
    tp = TabularPreprocessor(columns=['sex', 'x']).fit(pd.DataFrame({'sex': ['F', 'M', 'F'], 'x': [1., 2., 3.]}))
    num, cat = tp.transform(pd.DataFrame({'sex': ['X', None, 'm '], 'x': [1., np.nan, 2.]}))
    assert cat[:, 0].tolist() == [1, 0, 3] and np.isfinite(num).all()
    files = tp.save(tmp_path/'tp.json')
    assert [f.name for f in files] == ['tp.json', 'tp.safetensors']
    assert b'pickle' not in files[0].read_bytes() and files[1].read_bytes()[:8] != b'PK\x03\x04'  # no torch zip
    n2, c2 = TabularPreprocessor.load(tmp_path/'tp.json').transform(pd.DataFrame({'sex': ['X', None, 'm '], 'x': [1., np.nan, 2.]}))
    assert np.array_equal(n2, num) and np.array_equal(c2, cat)

def test_saved_preprocessor_imputes_as_fitted(tmp_path):
    "Read back from JSON + safetensors, the KNN imputer fills the same values from the same training rows."
    rng = np.random.default_rng(1)
    df = pd.DataFrame({'echo_a': rng.normal(50, 10, 40), 'ecg_b': rng.normal(400, 30, 40), 'echo_c': rng.normal(3, 1, 40)})
    df.loc[rng.random(40) < .3, 'echo_a'] = np.nan
    tp = TabularPreprocessor(n_neighbors=3).fit(df.iloc[:30])
    tp.save(tmp_path/'tp.json')
    back = TabularPreprocessor.load(tmp_path/'tp.json')
    assert np.array_equal(back.transform(df)[0], tp.transform(df)[0])
    assert np.isnan(df.iloc[30:].echo_a).any()                 # the comparison includes imputed values
    (tmp_path/'tp.pkl').write_bytes(b'not read')
    with pytest.raises(ValueError, match='pickle'): TabularPreprocessor.load(tmp_path/'tp.pkl')

@needs_data
@pytest.mark.parametrize('table', ['z_alizadeh_sani.csv', 'uci_echocardiogram.csv'])
def test_real_tables_give_finite_tensors(table):
    t = pd.read_csv(DATA/'tabular'/table)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        tp = TabularPreprocessor(columns=list(t.columns)).fit(t.iloc[:200])
        num, cat = tp.transform(t)
    assert np.isfinite(num).all() and (cat >= 0).all() and (cat < np.array(tp.cat_cardinalities)).all()
    assert num.shape[1] + cat.shape[1] + len(tp.dropped) == t.shape[1]

def test_column_entirely_missing_in_train_is_dropped_with_warning():
    df = pd.DataFrame({'echo_a': [1., 2., 3., 4.], 'echo_b': [np.nan, np.nan, np.nan, 5.]})
    with pytest.warns(UserWarning, match="'echo_b' has no value"): tp = TabularPreprocessor().fit(df.iloc[:3])
    assert tp.dropped == ['echo_b'] and tp.transform(df)[0].shape == (4, 1)

def test_labels_ids_dates_gaps_paths_never_inputs():
    cols = tabular_columns(cohort_of([f'/x/{i}.nii.gz' for i in range(3)]).assign(
        echo_study_id='x', ecg_exam_date='2020', ecg_gap_days=1., echo_label_path='p', shd=1.))
    assert cols == ['echo_lvef', 'echo_mr_grade', 'ecg_qrs_ms']

@pytest.mark.parametrize('kind,shapes', [('paired', 5), ('image', 3), ('simclr', 3)])
def test_a_batch_of_each_kind(tmp_path, kind, shapes):
    paths = [write_nifti(tmp_path/f'g{i}.nii.gz', good_volume(i)) for i in range(6)]
    dls = make_dls(cohort_of(paths), kind=kind, preset='tiny', cache_dir=tmp_path/'c', targets=['lvef_le45'], bs=2)
    b = dls.one_batch()
    s = get_preset('tiny').size
    assert len(b) == shapes and tuple(b[0].shape) == (2, 1, s, s, s)
    assert dls.n_inp == {'paired': 3, 'image': 1, 'simclr': 2}[kind]
    idx = b[-1].cpu()
    assert set(idx.tolist()) <= set(range(4))                  # train rows only
    if kind != 'simclr':
        y = b[-2].cpu()[:, 0]
        assert torch.equal(y, torch.tensor(cohort_of(paths)['lvef_le45'].to_numpy(np.float32))[idx])

def test_simclr_views_are_seeded(tmp_path):
    from xcardia.core import set_seed
    paths = [write_nifti(tmp_path/f'g{i}.nii.gz', good_volume(i)) for i in range(6)]
    def batch(seed):
        set_seed(seed)
        dls = make_dls(cohort_of(paths), kind='simclr', preset='tiny', cache_dir=tmp_path/'c', targets=['lvef_le45'], bs=2)
        return dls.one_batch()
    a, b, c = batch(0), batch(0), batch(1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[0], a[1])

def test_validation_loader_is_complete_and_ordered(tmp_path):
    paths = [write_nifti(tmp_path/f'g{i}.nii.gz', good_volume(i)) for i in range(9)]
    cohort = cohort_of(paths); cohort['split'] = ['train'] * 4 + ['val'] * 5
    dls = make_dls(cohort, kind='paired', preset='tiny', cache_dir=tmp_path/'c', targets=['lvef_le45'], bs=2)
    for _ in range(2): assert torch.cat([b[-1].cpu() for b in dls.valid]).tolist() == [4, 5, 6, 7, 8]
    assert sum(len(b[-1]) for b in dls.train) == 4                                     # drop_last: 4 rows, bs 2
