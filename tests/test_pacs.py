"""xcardia against a real PACS: Orthanc with its DICOMweb plugin (the `orthanc` fixture), loaded with the tiny demo's PACS
export and the real two-series study TCIA Lung-PET-CT-Dx A0002. Skipped with the reason where Orthanc is not installed;
CI installs it (and dciodvfy) and sets XCARDIA_REQUIRE_PACS."""
import os, shutil, subprocess
from pathlib import Path
import pandas as pd
import pydicom
import pytest
from conftest import cli_here, PACS_USER, PACS_PASSWORD
from xcardia.config import load_config
from xcardia.core import shared_data_dir
from xcardia.dicom import index_dicom
from xcardia.pacs import index_dicomweb, pacs_session, PacsError, DicomWeb, sr_values, sr_uids, SR_LIST

def _a0002()->list:
    "The two series folders of TCIA A0002 (lung kernel B70f, soft-tissue kernel B40f) in ../shared/data, or []."
    d = shared_data_dir()
    return [] if d is None else [p for s in ('B70f', 'thorax') if (p := d/'ct'/f'tcia_lung_dx_A0002_{s}_dicom').is_dir()]

@pytest.fixture(scope='module')
def subset(tiny_demo, tmp_path_factory):
    """Three patients of the tiny demo's PACS export (every series and extra file of their studies) and TCIA A0002 (not in
    the demo's id map: its series are listed as 'unmapped patient'), as a folder."""
    src, dst = tiny_demo/'data'/'archive', tmp_path_factory.mktemp('archive')/'archive'
    for p in sorted(d for d in src.iterdir() if d.is_dir())[:3]: shutil.copytree(p, dst/p.name)
    for p in _a0002(): shutil.copytree(p, dst/'A0002'/p.name)
    return dst

@pytest.fixture(scope='module')
def loaded(orthanc, subset):
    "The Orthanc with the subset's files uploaded (those Orthanc accepts: DICOM)."
    files = [f for f in subset.rglob('*') if f.is_file()]
    assert orthanc.upload(files) > 50
    return orthanc

def _session(): return pacs_session(env={'XCARDIA_PACS_USER': PACS_USER, 'XCARDIA_PACS_PASSWORD': PACS_PASSWORD})

def _index_kw(tiny_demo)->dict:
    ix = load_config(tiny_demo/'config.yaml', check_files=False).index
    return dict(rule=ix.rule, id_map=ix.id_map, study_id=ix.study_id)

@pytest.fixture
def pacs_env(monkeypatch):
    "The test Orthanc's credentials in the environment, as a user would set them."
    monkeypatch.setenv('XCARDIA_PACS_USER', PACS_USER)
    monkeypatch.setenv('XCARDIA_PACS_PASSWORD', PACS_PASSWORD)

def dciodvfy_errors(path)->list:
    "The lines of `dciodvfy` (dicom3tools) that report an error in a DICOM file."
    exe = shutil.which('dciodvfy')
    if exe is None:
        why = 'dciodvfy is not installed (Debian: apt-get install dicom3tools)'
        if os.environ.get('XCARDIA_REQUIRE_PACS'): pytest.fail(why + '; XCARDIA_REQUIRE_PACS is set (CI)')
        pytest.skip(why)
    r = subprocess.run([exe, str(path)], capture_output=True, text=True)
    return [l for l in (r.stdout + r.stderr).splitlines() if l.startswith('Error')]

def test_index_over_dicomweb_matches_the_folder_index(loaded, subset, tiny_demo, tmp_path):
    kw = _index_kw(tiny_demo)
    folder = index_dicom(subset, tmp_path/'folder'/'ct.csv', progress=False, **kw)
    web = index_dicomweb(loaded.url, tmp_path/'web'/'ct.csv', session=_session(), progress=False, **kw)
    cols = [c for c in folder['ct'].columns if c != 'image_path']
    pd.testing.assert_frame_equal(web['ct'][cols].reset_index(drop=True), folder['ct'][cols].reset_index(drop=True), check_dtype=False)
    f, w = (r['series'].set_index('series_uid') for r in (folder, web))
    assert w.selected.sum() == len(web['ct']) and (w.selected == f.selected[w.index]).all()
    assert (w.reason == f.reason[w.index]).all()                               # the same choices, for the same reasons
    assert web['requests']['wado'] == len(web['ct'])                           # one retrieve per chosen series, no other
    fetched = {p.parent.name for p in (tmp_path/'web'/'dicom').rglob('*.dcm')}
    assert fetched == set(w.index[w.selected])                                 # only the chosen series on disk
    again = index_dicomweb(loaded.url, tmp_path/'web'/'ct.csv', session=_session(), progress=False, **kw)
    assert again['requests'].get('wado', 0) == 0                               # a rerun fetches nothing twice
    from xcardia.data import load_ct
    assert load_ct(web['ct'].image_path[0], 8., 16, (-200, 400)).shape == (1, 16, 16, 16)   # the fetched series reads

def test_real_study_a0002_over_dicomweb(loaded, subset, tmp_path):
    "The real two-kernel study: the same choice as from its folder (the soft-tissue B40f), and only that series fetched."
    if not _a0002(): pytest.skip('../shared/data has no TCIA A0002 study')
    kw = dict(rule={'max_thickness': 10.})            # its slices are 8 mm
    folder = index_dicom(subset/'A0002', tmp_path/'folder'/'ct.csv', progress=False, **kw)
    study = folder['ct'].study_id[0]
    web = index_dicomweb(loaded.url, tmp_path/'web'/'ct.csv', session=_session(), progress=False, studies=[study], **kw)
    cols = [c for c in folder['ct'].columns if c != 'image_path']
    pd.testing.assert_frame_equal(web['ct'][cols], folder['ct'][cols], check_dtype=False)
    assert web['ct'].kernel[0] == 'B40f' and web['requests']['wado'] == 1
    assert len(list((tmp_path/'web'/'dicom').rglob('*.dcm'))) == 30       # one series of 30 instances, no other

def test_orthanc_stopped_mid_fetch(loaded, subset, tiny_demo, tmp_path):
    "Orthanc stops after the first series is fetched: the rest are failed rows; after a restart a rerun fetches only them."
    kw, s, fetched = _index_kw(tiny_demo), _session(), []
    def stop_after_first(r, *a, **k):
        if r.request.method == 'GET' and '/series/' in r.request.path_url and not r.request.path_url.endswith('metadata'):
            fetched.append(r.request.path_url)
            if len(fetched) == 1: loaded.stop()
    s.hooks['response'].append(stop_after_first)
    try:
        first = index_dicomweb(loaded.url, tmp_path/'ct.csv', session=s, progress=False, workers=1, **kw)
    finally:
        if loaded.proc.poll() is not None: loaded.start()
    failed = first['failed']
    assert len(failed) >= 2 and set(failed.stage) == {'fetch'} and failed.reason.str.contains('cannot reach').all()
    assert len(first['ct']) == first['series'].selected.sum() - len(failed)          # the failed studies are not in the table
    assert not list((tmp_path/'dicom').rglob('*.part'))                             # nor half of them on disk
    again = index_dicomweb(loaded.url, tmp_path/'ct.csv', session=_session(), progress=False, workers=1, **kw)
    assert again['failed'].empty and again['requests']['wado'] == len(failed)      # only the missing series fetched
    assert len(again['ct']) == again['series'].selected.sum()

def test_screening_writes_srs_that_validate_and_store(loaded, subset, tiny_demo, tmp_path, pacs_env):
    "predict --table --sr --store: one SR per study, valid for dciodvfy, the same numbers read back, found by QIDO once."
    web = index_dicomweb(loaded.url, tmp_path/'ct.csv', session=_session(), progress=False, **_index_kw(tiny_demo))
    args = ['predict', '--bundle', tiny_demo/'bundle', '--table', tmp_path/'ct.csv', '--out', tmp_path/'pred.csv',
            '--sr', tmp_path/'sr', '--store', loaded.url]
    code, _, err = cli_here(*args)
    assert code == 0, err
    pred = pd.read_csv(tmp_path/'pred.csv', dtype={'study_id': str})
    lst = pd.read_csv(tmp_path/'sr'/SR_LIST, dtype=str, keep_default_na=False)
    assert len(lst) == len(pred) == len(web['ct']) and (lst.status == 'stored').all()
    targets = [c[:-5] for c in pred if c.endswith('_flag')]
    client = DicomWeb(loaded.url, _session())
    for (_, p), (_, r) in zip(pred.iterrows(), lst.iterrows()):
        f = tmp_path/'sr'/r.file
        assert dciodvfy_errors(f) == [], f
        got, ct = sr_values(f), pydicom.dcmread(next(Path(p.image_path.split('::')[0]).glob('*.dcm')), stop_before_pixels=True)
        assert all(abs(got[t] - p[t]) < 1e-6 and got[f'{t}_flag'] == p[f'{t}_flag'] for t in targets)
        assert abs(got['lvef_pct'] - p['lvef_pct']) < 1e-4                        # a severity estimate, in %
        sr = pydicom.dcmread(f)
        assert (sr.PatientID, sr.StudyInstanceUID, sr.AccessionNumber) == (ct.PatientID, ct.StudyInstanceUID, ct.AccessionNumber)
        found = client.client.search_for_series(sr.StudyInstanceUID, search_filters={'Modality': 'SR'})
        assert [s['0020000E']['Value'][0] for s in found] == [sr_uids(r.bundle, sr.StudyInstanceUID)['series']]
    code, _, err = cli_here(*args)                                                   # again: nothing new in the PACS
    assert code == 0, err
    for study in lst.study_uid:
        assert len(client.client.search_for_instances(study, search_filters={'Modality': 'SR'})) == 1

def test_failed_store_is_listed_and_retried(loaded, tiny_demo, tmp_path, pacs_env):
    "A PACS that cannot be reached: the SRs are written, listed as not stored, exit 2; the next run stores them."
    ct = pd.read_csv(tiny_demo/'data'/'index'/'ct_index.csv').head(2)
    ct.to_csv(tmp_path/'ct.csv', index=False)
    args = ['predict', '--bundle', tiny_demo/'bundle', '--table', tmp_path/'ct.csv', '--out', tmp_path/'pred.csv',
            '--sr', tmp_path/'sr', '--store']
    code, _, err = cli_here(*args, 'http://127.0.0.1:9/dicom-web')                 # port 9: nothing listens
    assert code == 2 and '2 reports were not stored' in err and len(err.strip().splitlines()[-1:]) == 1
    lst = pd.read_csv(tmp_path/'sr'/SR_LIST)
    assert (lst.status == 'store failed').all() and all((tmp_path/'sr'/f).is_file() for f in lst.file)
    code, _, err = cli_here(*args, loaded.url)
    assert code == 0, err
    assert (pd.read_csv(tmp_path/'sr'/SR_LIST).status == 'stored').all()

def test_sr_folder_that_cannot_be_written_stops_before_screening(tiny_demo, tmp_path):
    (tmp_path/'a_file').write_text('')
    code, _, err = cli_here('predict', '--bundle', tiny_demo/'bundle', '--table', tiny_demo/'data'/'index'/'ct_index.csv',
                            '--out', tmp_path/'pred.csv', '--sr', tmp_path/'a_file'/'sr')
    assert code == 2 and 'cannot write there' in err and not (tmp_path/'pred.csv').exists()

def test_wrong_password_is_one_line(loaded, tmp_path, monkeypatch):
    monkeypatch.setenv('XCARDIA_PACS_USER', PACS_USER)
    monkeypatch.setenv('XCARDIA_PACS_PASSWORD', 'wrong')
    code, _, err = cli_here('index', loaded.url, '--out', tmp_path/'ct.csv')
    assert code == 2 and 'refused the credentials (HTTP 401)' in err and len(err.strip().splitlines()) == 1
    assert 'wrong' not in err

def test_no_dicomweb_at_the_url(loaded, tmp_path, monkeypatch):
    monkeypatch.setenv('XCARDIA_PACS_USER', PACS_USER)
    monkeypatch.setenv('XCARDIA_PACS_PASSWORD', PACS_PASSWORD)
    code, _, err = cli_here('index', loaded.rest + '/not-dicom-web', '--out', tmp_path/'ct.csv')
    assert code == 2 and 'no DICOMweb service' in err

def test_predict_paths_sr_only_for_dicom(tiny_demo, tmp_path):
    "xcardia predict CT... --sr: a NIfTI gets no report and is listed with the reason; a DICOM series gets one."
    import nibabel as nib, numpy as np
    nifti = tmp_path/'ct.nii.gz'
    nib.save(nib.Nifti1Image(np.random.default_rng(0).integers(-1000, 400, (24, 24, 24)).astype(np.int16), np.diag([8., 8, 8, 1])), nifti)
    dicom = pd.read_csv(tiny_demo/'data'/'index'/'ct_index.csv').image_path[0]
    code, _, err = cli_here('predict', nifti, dicom, '--bundle', tiny_demo/'bundle', '--sr', tmp_path/'sr')
    assert code == 0, err
    lst = pd.read_csv(tmp_path/'sr'/SR_LIST, keep_default_na=False)
    assert list(lst.status) == ['skipped', 'written'] and 'not a DICOM series' in lst.reason[0]
    assert sorted(p.name for p in (tmp_path/'sr').glob('*.dcm')) == [lst.file[1]]
    assert dciodvfy_errors(tmp_path/'sr'/lst.file[1]) == []

def test_credentials_from_the_file_the_config_names(loaded, tiny_demo, tmp_path, monkeypatch):
    "index.pacs_auth: the credentials' file named in the configuration, with nothing in the environment."
    import yaml
    for k in ('XCARDIA_PACS_USER', 'XCARDIA_PACS_PASSWORD', 'XCARDIA_PACS_TOKEN'): monkeypatch.delenv(k, raising=False)
    (tmp_path/'pacs.yaml').write_text(yaml.safe_dump({'user': PACS_USER, 'password': PACS_PASSWORD}))
    cfg = yaml.safe_load((tiny_demo/'config.yaml').read_text())
    cfg['index']['pacs_auth'] = str(tmp_path/'pacs.yaml')
    (tmp_path/'site.yaml').write_text(yaml.safe_dump(cfg))
    code, _, err = cli_here('index', loaded.url, '--out', tmp_path/'ct.csv', '--config', tmp_path/'site.yaml')
    assert code == 0, err
    assert len(pd.read_csv(tmp_path/'ct.csv')) >= 1 and PACS_PASSWORD not in err
    code, _, err = cli_here('index', loaded.url, '--out', tmp_path/'ct2.csv')       # no credentials anywhere: refused
    assert code == 2 and 'refused the credentials (HTTP 401)' in err
