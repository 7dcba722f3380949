"""The shareable bundle and the partner site's validation, on the tiny demo's trained models: no patient data and nothing
pickled in what leaves, the same predictions as the local bundle, damaged or planted files refused, aggregates only back."""
import json, pickle, shutil
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from conftest import cli_here
from xcardia.core import TARGET_NAMES
from xcardia.predict import load_bundle

def _ids(run:Path)->set:
    "Every patient id, study id and image path of a run's cohort (labelled and pre-training) and of its CT table."
    ids = set()
    for f in [run/'cohort'/'labelled.parquet', run/'cohort'/'pretrain.parquet']:
        t = pd.read_parquet(f)
        for c in ('patient_id', 'study_id', 'image_path'): ids |= set(t[c].astype(str))
    ct = pd.read_csv(run/'data'/'ct_studies.csv', dtype=str)
    return ids | set(ct.patient_id) | set(ct.study_id) | set(ct.image_path)

def _leaks(folder:Path, ids:set, skip=())->dict:
    return {f.name: hits for f in folder.iterdir() if f.is_file() and f.name not in skip
            if (hits := [i for i in ids if i.encode() in f.read_bytes()])}

def test_shareable_bundle_holds_no_patient_data(tiny_demo):
    shared, ids = tiny_demo/'bundle_shareable', _ids(tiny_demo)
    assert len(ids) > 100
    assert _leaks(shared, ids) == {}
    assert _leaks(tiny_demo/'bundle', ids)                                       # the scan finds them where they are
    for f in shared.iterdir():
        head = f.read_bytes()[:9]
        assert head[:4] != b'PK\x03\x04' and not (head[:1] == b'\x80' and head[8:9] != b'{'), f.name   # no torch zip, no pickle
    assert not json.loads((shared/'bundle.json').read_text()).get('config')

def test_inspect_require_shareable(tiny_demo):
    code, out, _ = cli_here('inspect', tiny_demo/'bundle_shareable', '--require-shareable')
    assert code == 0 and 'verdict: shareable' in out
    code, out, err = cli_here('inspect', tiny_demo/'bundle', '--require-shareable')
    assert code == 1 and 'holds patient-derived data' in out and 'support.csv' in out and 'not shareable' in err

def test_shareable_predicts_as_local(tiny_demo):
    co = pd.read_parquet(tiny_demo/'cohort'/'labelled.parquet')
    cts = co.image_path[co.split == 'test'].tolist()
    a = load_bundle(tiny_demo/'bundle', device='cpu').predict(cts)[list(TARGET_NAMES)].to_numpy()
    b = load_bundle(tiny_demo/'bundle_shareable', device='cpu').predict(cts)[list(TARGET_NAMES)].to_numpy()
    np.testing.assert_allclose(b, a, atol=1e-5, rtol=0)

class _Planted:
    "Unpickling this touches a file: the proof that something unpickled it."
    def __init__(self, mark): self.mark = mark
    def __reduce__(self): return (Path.touch, (self.mark,))

def test_planted_pickle_never_runs(tiny_demo, tmp_path):
    b, mark = tmp_path/'bundle', tmp_path/'PLANTED_RAN'
    shutil.copytree(tiny_demo/'bundle', b)
    for name in ('tab_preprocessor.pkl', 'finetuned.pth', 'pretrained.pth', 'support.pkl'):
        (b/name).write_bytes(pickle.dumps(_Planted(mark)))
    ct = pd.read_parquet(tiny_demo/'cohort'/'labelled.parquet').image_path.iloc[0]
    assert cli_here('predict', ct, '--bundle', b, '--exemplars', '1')[0] == 0
    code, out, _ = cli_here('inspect', b)
    assert code == 0 and 'tab_preprocessor.pkl: a pickle' in out and 'finetuned.pth: not listed' in out
    assert cli_here('export', b, '--out', tmp_path/'shared')[0] == 0
    assert not mark.exists()
    pickle.loads((b/'support.pkl').read_bytes())
    assert mark.exists()                                                         # the plant works when unpickled

def test_damaged_and_old_bundles_refused_in_one_line(tiny_demo, tmp_path):
    ct = pd.read_parquet(tiny_demo/'cohort'/'labelled.parquet').image_path.iloc[0]
    b = tmp_path/'flipped'
    shutil.copytree(tiny_demo/'bundle_shareable', b)
    raw = bytearray((b/'finetuned.safetensors').read_bytes())
    raw[len(raw) // 3] ^= 1
    (b/'finetuned.safetensors').write_bytes(bytes(raw))
    code, _, err = cli_here('predict', ct, '--bundle', b)
    assert code == 2 and 'finetuned.safetensors: its SHA-256 differs' in err and len(err.strip().splitlines()) == 1
    (b/'finetuned.safetensors').unlink()
    assert 'listed in bundle.json but missing' in cli_here('predict', ct, '--bundle', b)[2]
    old = tmp_path/'old'
    old.mkdir()
    (old/'bundle.json').write_text(json.dumps({'targets': list(TARGET_NAMES)}))       # format 1 wrote no format
    code, _, err = cli_here('predict', ct, '--bundle', old)
    assert code == 2 and f'xcardia convert {old} --out' in err

def test_validation_returns_aggregates_only(tiny_demo):
    v = tiny_demo/'validation_site_b'
    site = tiny_demo/'site_b'
    ids = _ids(tiny_demo) | _ids(site)
    assert _leaks(v, ids, skip=['predictions.local.csv']) == {}
    assert _leaks(v, ids)                                                        # the local predictions do hold them
    assert [f.name for f in v.iterdir() if 'local' in f.name] == ['predictions.local.csv']
    res = json.loads((v/'validation.json').read_text())
    assert res['bundle_kind'] == 'shareable' and res['targets']
    for t, r in res['targets'].items():                                          # no CI from fewer than 10 positives
        if r['positives'] is None: assert r['auroc_lo'] is None and r['auroc_hi'] is None, t
    rep = (tiny_demo/'report'/'report.md').read_text()
    assert '## Sharing the model' in rep and '../validation_site_b/validation.html' in rep

def test_model_card_from_the_run(tiny_demo):
    import yaml
    readme = (tiny_demo/'bundle_shareable'/'README.md').read_text()
    front = yaml.safe_load(readme.split('---')[1])
    assert {'license', 'library_name', 'tags', 'metrics'} <= set(front)
    card = json.loads((tiny_demo/'bundle'/'card.json').read_text())
    t = next(t for t, r in card['test'].items() if r['auroc'] is not None)
    assert f"{card['test'][t]['auroc']:.3f}" in readme                         # the run's own number, not a typed one

def test_model_card_counts_the_index_kernels(tiny_demo):
    "The tiny demo's CTs come through `xcardia index`: the card counts their scanner makers and kernels, small cells blanked."
    card = json.loads((tiny_demo/'bundle'/'card.json').read_text())
    ct = pd.read_csv(tiny_demo/'data'/'index'/'ct_index.csv')
    for col in ('kernel', 'manufacturer'):
        got = card['cohort'][col]
        assert set(got) <= set(ct[col].fillna('unknown')) and len(got) >= 2
        assert all(v is None or v >= 10 for v in got.values()) and sum(v or 0 for v in got.values()) <= card['cohort']['studies']
    assert '| kernels |' in (tiny_demo/'bundle_shareable'/'README.md').read_text()
