"""The archive path with real files: compressed transfer syntaxes decoded voxel for voxel, the shared two-series study through
`xcardia index` and `load_ct`, the cache keyed per series, and the synthetic PACS export's truth."""
import os, shutil
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import pydicom
from pydicom import uid
from xcardia.core import shared_data_dir
from xcardia.dicom import CTReadError, index_dicom, series_path, series_files
from xcardia.data import LoadCT, CTCache, load_ct
from xcardia.cli import main

SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason='no shared data folder')
B40 = SHARED/'ct'/'tcia_lung_dx_A0002_thorax_dicom' if SHARED else None
B70 = SHARED/'ct'/'tcia_lung_dx_A0002_B70f_dicom' if SHARED else None

def _gdcm_encode(src:Path, dst:Path, syntax:str):
    "JPEG Lossless through GDCM (pydicom has no JPEG encoder)."
    import gdcm
    r = gdcm.ImageReader(); r.SetFileName(str(src)); assert r.Read()
    c = gdcm.ImageChangeTransferSyntax(); c.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(syntax)))
    c.SetInput(r.GetImage()); assert c.Change()
    w = gdcm.ImageWriter(); w.SetFile(r.GetFile()); w.SetImage(c.GetOutput()); w.SetFileName(str(dst)); assert w.Write()

# (syntax, encoder keywords, lossless, max |HU difference| allowed for a lossy one)
SYNTAXES = [(uid.RLELossless, {}, True, 0), (uid.JPEGLSLossless, {}, True, 0), (uid.JPEG2000Lossless, {}, True, 0),
            (uid.JPEGLosslessSV1, 'gdcm', True, 0), (uid.JPEGLossless, 'gdcm', True, 0),
            (uid.JPEGLSNearLossless, {'jls_error': 2}, False, 2), (uid.JPEG2000, {'j2k_psnr': [80]}, False, 60)]

@needs_shared
@pytest.mark.parametrize('syntax,kw,lossless,tol', SYNTAXES, ids=[s[0].name for s in SYNTAXES])
def test_compressed_series_reads_the_same_hu(tmp_path, syntax, kw, lossless, tol):
    "The real B40f series re-encoded in each syntax: the runtime decoders (pylibjpeg) give the same HU, exactly when lossless."
    from pydicom.pixels import get_decoder
    assert get_decoder(syntax).is_available
    for f in sorted(B40.iterdir()):
        if kw == 'gdcm': _gdcm_encode(f, tmp_path/f.name, syntax)
        else:
            ds = pydicom.dcmread(f); ds.compress(syntax, **kw); ds.save_as(tmp_path/f.name)
    one = pydicom.dcmread(sorted(tmp_path.iterdir())[0])
    assert one.file_meta.TransferSyntaxUID == syntax
    plugin = 'pydicom' if syntax == uid.RLELossless else 'pylibjpeg'        # the installed runtime plugins, not GDCM
    one.pixel_array_options(decoding_plugin=plugin)
    ref = pydicom.dcmread(sorted(B40.iterdir())[0]).pixel_array.astype(np.int32)
    diff = np.abs(one.pixel_array.astype(np.int32) - ref).max()
    assert diff == 0 if lossless else diff <= tol
    a, b = LoadCT()(str(B40)).numpy(), LoadCT()(str(tmp_path)).numpy()
    assert a.shape == b.shape
    if lossless: np.testing.assert_array_equal(a, b)
    else: assert np.abs(a - b).max() <= tol and np.abs(a - b).mean() < tol

def _study(root:Path)->Path:
    "The shared A0002 study as an export: a folder per series and the PNG beside them."
    study = root/'A0002'/'20070425'
    shutil.copytree(B40, study/'3_B40f'); shutil.copytree(B70, study/'2_B70f')
    shutil.copy(SHARED/'ct'/'tcia_lung_dx_A0002_result_1-09.png', study)
    return study

@needs_shared
def test_index_cli_on_the_real_study(tmp_path, capsys):
    "`xcardia index` writes one row pointing at the B40f series; series.csv gives B70f its reason; the archive is untouched."
    _study(tmp_path/'archive')
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path/'archive').rglob('*') if p.is_file()}
    out = tmp_path/'index'/'ct_studies.csv'
    assert main(['index', str(tmp_path/'archive'), '--out', str(out), '--max-thickness', '8', '--workers', '2']) == 0
    ct, series = pd.read_csv(out), pd.read_csv(out.parent/'series.csv')
    assert len(ct) == 1 and ct.kernel[0] == 'B40f' and ct.image_path[0].split('::')[0].endswith('3_B40f')
    assert dict(zip(series.kernel, series.reason)) == {'B40f': 'selected', 'B70f': 'sharper kernel'}
    summary = pd.read_csv(out.parent/'index_summary.csv')
    assert summary.query("level == 'files' and reason == 'not DICOM'")['count'].item() == 1
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path/'archive').rglob('*') if p.is_file()} == before
    v = load_ct(ct.image_path[0], spacing=8., size=24, hu_window=None)
    w = load_ct(str(B40), spacing=8., size=24, hu_window=None)
    np.testing.assert_array_equal(v.numpy(), w.numpy())
    assert main(['index', str(tmp_path/'archive'), '--out', str(tmp_path/'i5'/'ct.csv'), '--workers', '1']) == 2   # 8 mm > 5 mm default
    assert 'no study' in capsys.readouterr().err

@needs_shared
def test_flat_folder_refused_and_series_cached_apart(tmp_path):
    "Both series flat in one folder: `load_ct` refuses and names both; each named series reads and caches on its own."
    flat = tmp_path/'flat'; flat.mkdir()
    for k, src in (('b40', B40), ('b70', B70)):
        for f in src.iterdir(): shutil.copy(f, flat/f'{k}_{f.name}')
    with pytest.raises(CTReadError) as e: load_ct(flat, spacing=8., size=16)
    uids = {pydicom.dcmread(next(src.iterdir()), stop_before_pixels=True).SeriesInstanceUID for src in (B40, B70)}
    assert all(u in str(e.value) for u in uids) and 'B40f' in str(e.value) and 'B70f' in str(e.value)
    cache = CTCache(tmp_path/'cache', spacing=8., size=16)
    paths = {u: series_path(flat, u) for u in uids}
    keys = {u: cache.key(p) for u, p in paths.items()}
    assert len(set(keys.values())) == 2
    vols = {u: cache(p) for u, p in paths.items()}
    assert not np.array_equal(*[v.numpy() for v in vols.values()])
    b40_uid = pydicom.dcmread(next(B40.iterdir()), stop_before_pixels=True).SeriesInstanceUID
    np.testing.assert_array_equal(vols[b40_uid].numpy(), CTCache(tmp_path/'cache2', spacing=8., size=16)(str(B40)).numpy())
    with pytest.raises(CTReadError, match='no series 9.9.9'): load_ct(series_path(flat, '9.9.9'), spacing=8., size=16)

def test_synthetic_export_indexed_as_intended(tmp_path):
    "The built-in cohort as a PACS export: every study's intended series chosen, ids translated, each trap with its reason."
    from xcardia.synthetic import make_cohort
    p = make_cohort(tmp_path/'c', n_patients=8, seed=1, archive=True, n_workers=1)
    res = index_dicom(p['archive'], tmp_path/'i'/'ct.csv', rule={'max_thickness': 7.}, id_map=p['id_map'], study_id='accession',
                      n_workers=1, progress=False)
    truth = pd.read_csv(p['truth'], dtype=str).set_index('study_id')
    got = res['ct'].astype({'study_id': str}).set_index('study_id').loc[truth.index]
    assert (got.series_uid == truth.series_uid).all() and (got.patient_id == truth.patient_id).all()
    reasons = set(res['series'].reason)
    assert {'selected', 'localizer', 'sharper kernel'} <= reasons
    vol = load_ct(got.image_path.iloc[0], spacing=6., size=16, hu_window=None)
    assert vol.shape == (1, 16, 16, 16)

def test_tilt_unmapped_and_non_ct_in_the_index(tmp_path):
    "A gantry-tilted series gets 'gantry tilt', a patient missing from the id map is counted, a named non-CT series is refused by name."
    from xcardia.dicom import write_test_slice
    arch = tmp_path/'archive'
    for k in range(30):
        write_test_slice(arch/'ok'/f'{k}.dcm', '1.2.9.1', z=5. * k, instance=k + 1, patient_id='A', study='S1')
        write_test_slice(arch/'tilt'/f'{k}.dcm', '1.2.9.2', z=5. * k, instance=k + 1, patient_id='A', study='S2', GantryDetectorTilt=15)
        write_test_slice(arch/'who'/f'{k}.dcm', '1.2.9.3', z=5. * k, instance=k + 1, patient_id='B', study='S3')
        write_test_slice(arch/'mr'/f'{k}.dcm', '1.2.9.4', z=5. * k, instance=k + 1, patient_id='A', study='S4', modality='MR')
    res = index_dicom(arch, tmp_path/'i'/'ct.csv', rule={'min_z_mm': 100}, id_map={'A': 'P1'}, n_workers=1, progress=False)
    reasons = dict(zip(res['series'].series_uid, res['series'].reason))
    assert reasons == {'1.2.9.1': 'selected', '1.2.9.2': 'gantry tilt', '1.2.9.3': 'unmapped patient', '1.2.9.4': 'not CT'}
    assert res['ct'].patient_id.tolist() == ['P1']
    s = res['summary'].set_index(['level', 'reason'])['count']
    assert s[('patients', 'unmapped')] == 1
    with pytest.raises(CTReadError, match="Modality is 'MR', not 'CT'"): series_files(series_path(arch/'mr', '1.2.9.4'))
