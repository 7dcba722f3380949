"The synthetic cohort: determinism, tissue HU, written spacings, tables-only mode, and signal in the rendered CT."
from pathlib import Path
import numpy as np, pandas as pd, pytest
from scipy import ndimage
import nibabel as nib
from xcardia.synthetic import make_cohort, LABELS, signal_check
from xcardia.matching import read_tables

def read_cohort(paths): return read_tables(paths['ct'], paths['echo'], paths['ecg'])
from xcardia.data import LoadCT

@pytest.fixture(scope='module')
def cohort(tmp_path_factory):
    return make_cohort(tmp_path_factory.mktemp('syn')/'c', n_patients=8, seed=5, dicom_share=.5)

def test_determinism(tmp_path, cohort):
    again = make_cohort(tmp_path/'again', n_patients=8, seed=5, dicom_share=.5, n_workers=1)
    for k in ('ct', 'echo', 'ecg'): assert Path(cohort[k]).read_bytes() == Path(again[k]).read_bytes()
    for a, b in zip(read_cohort(cohort)[0].image_path, read_cohort(again)[0].image_path):
        assert np.array_equal(LoadCT()(a).numpy(), LoadCT()(b).numpy())

def test_tissue_hu(cohort):
    "Away from edges, each structure has the HU of its tissue (non-contrast: blood and myocardium differ by ~12 HU)."
    ct = read_cohort(cohort)[0]
    expected = dict(lung=(-900, -780), body_fat=(-140, -60), mediastinal_fat=(-140, -50), muscle=(10, 80),
                    spine=(150, 700), lv_cavity=(15, 65))
    for img_path, lab_path in zip(ct.image_path, ct.label_path):
        if Path(img_path).is_dir(): continue                         # DICOM: another voxel order; NIfTI suffice
        hu, lab = nib.load(img_path).get_fdata(), nib.load(lab_path).get_fdata().astype(int)
        for name, (lo, hi) in expected.items():
            m = ndimage.binary_erosion(lab == LABELS[name])
            if m.sum() > 5: assert lo < hu[m].mean() < hi, (name, hu[m].mean())
        assert hu.min() >= -1024
        ca = lab == LABELS['av_calcium']
        if ca.any(): assert hu[ca].max() > 130, hu[ca].max()   # brighter than blood or myocardium even after partial volume

def test_written_spacing_matches_drawn(cohort):
    ct = read_cohort(cohort)[0]
    assert Path(ct.image_path[ct.image_path.str.endswith('.nii.gz')].iloc[0]).exists()
    assert any(Path(p).is_dir() for p in ct.image_path), "no DICOM study in this cohort"
    for p, sp in zip(ct.image_path, ct.spacing_mm):
        assert np.allclose(np.abs(np.diag(LoadCT()(p).affine.numpy())[:3]), sp, atol=1e-3), p

def test_tables_only_writes_no_image(tmp_path):
    p = make_cohort(tmp_path/'t', n_patients=20, tables_only=True)
    assert not any((tmp_path/'t'/'ct').iterdir()) and not any((tmp_path/'t'/'labels').iterdir())
    ct = pd.read_csv(p['ct']); assert len(ct) >= 20 and {'patient_id', 'study_id', 'study_date', 'image_path'} <= set(ct.columns)

def test_exams_fall_in_and_out_of_window(cohort):
    ct, echo, _ = read_cohort(cohort)
    m = ct.merge(echo, on='patient_id')
    gaps = (pd.to_datetime(m.exam_date) - pd.to_datetime(m.study_date)).dt.days.abs()
    assert (gaps <= 183).any() and (gaps > 183).any()

def test_rendered_ct_carries_signal(tmp_path):
    "A logistic regression on statistics of the rendered CT (not the label map) reaches AUROC >= 0.7 for the LV and AS targets."
    sig = signal_check(make_cohort(tmp_path/'s', n_patients=400, studies_per_patient=(1, 1), seed=11))
    print(sig.round(3))
    for t in ('lvef_le45', 'lvwt_ge13', 'aortic_stenosis'): assert sig.loc[t, 'image statistics'] >= .7, sig
    for t in ('lvef_le45', 'lvwt_ge13'): assert sig.loc[t, 'ECHO/ECG table'] >= .9, sig
