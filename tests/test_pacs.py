"""xcardia against a real PACS: Orthanc with its DICOMweb plugin (the `orthanc` fixture), loaded with the tiny demo's PACS
export. Skipped with the reason where Orthanc is not installed; CI installs it and sets XCARDIA_REQUIRE_PACS."""
import os
from pathlib import Path
import pandas as pd
import pytest
from conftest import cli_here, PACS_USER, PACS_PASSWORD
from xcardia.config import load_config
from xcardia.dicom import index_dicom
from xcardia.pacs import index_dicomweb, pacs_session, PacsError

@pytest.fixture(scope='module')
def subset(tiny_demo, tmp_path_factory):
    "Three patients of the tiny demo's PACS export (every series and extra file of their studies), as a folder."
    import shutil
    src, dst = tiny_demo/'data'/'archive', tmp_path_factory.mktemp('archive')/'archive'
    for p in sorted(d for d in src.iterdir() if d.is_dir())[:3]: shutil.copytree(p, dst/p.name)
    return dst

@pytest.fixture(scope='module')
def loaded(orthanc, subset):
    "The Orthanc with the subset's files uploaded (those Orthanc accepts: DICOM)."
    files = [f for f in subset.rglob('*') if f.is_file()]
    assert orthanc.upload(files) > 50
    return orthanc

def _session(): return pacs_session(env={'XCARDIA_PACS_USER': PACS_USER, 'XCARDIA_PACS_PASSWORD': PACS_PASSWORD})

def test_index_over_dicomweb_matches_the_folder_index(loaded, subset, tiny_demo, tmp_path):
    ix = load_config(tiny_demo/'config.yaml', check_files=False).index
    kw = dict(rule=ix.rule, id_map=ix.id_map, study_id=ix.study_id)
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
