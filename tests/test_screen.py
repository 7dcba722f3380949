"""`xcardia predict --table`: the tiny demo's bundle screening the demo's own test split as a hospital would, with a planted
unreadable CT, a kill and a rerun, two processes under torchrun, and a table with nothing readable; `xcardia embed`."""
import os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from xcardia.core import TARGET_NAMES, get_preset, set_seed
from xcardia.encoders import image_encoder
from xcardia.finetune import FineTuneModel
from xcardia.predict import save_bundle, bundle_identity
from conftest import cli_here

TORCHRUN = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'XCARDIA_DIST_TIMEOUT': '120'}
TARGETS = list(TARGET_NAMES)

def xcardia(*args, launch=None, cwd=None):
    "(exit code, stdout + stderr) of the command: in this process (`cli_here`), or launched as `launch` says (torchrun)."
    if launch is None:
        code, out, err = cli_here(*args, cwd=cwd)
        return code, out + err
    r = subprocess.run([*launch, '-m', 'xcardia.cli', *map(str, args)], env=ENV, cwd=cwd, capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr

def read(f:Path)->pd.DataFrame: return pd.read_csv(f, dtype={'patient_id': str, 'study_id': str, 'error': str})

@pytest.fixture(scope='module')
def site(tmp_path_factory, tiny_demo)->Path:
    "The tiny demo (its bundle and pre-training runs; the session's one run, linked as `demo`), its test split as a hospital's CT table with two planted failures, and a bundle of an untrained model."
    root = tmp_path_factory.mktemp('screen')
    (root/'demo').symlink_to(tiny_demo, target_is_directory=True)
    co = pd.read_parquet(root/'demo'/'cohort'/'labelled.parquet')
    ct = co.loc[co.split == 'test', ['patient_id', 'study_id', 'image_path', 'spacing_mm']].reset_index(drop=True)
    assert len(ct) >= 8, len(ct)
    (root/'cohort'/'ct').mkdir(parents=True)
    ct.loc[3, 'image_path'] = 'ct/missing.nii.gz'                                                  # relative to the table's folder
    (root/'cohort'/'ct'/'broken.nii.gz').write_bytes(b'not a NIfTI'); ct.loc[5, 'image_path'] = 'ct/broken.nii.gz'
    ct.to_csv(root/'cohort'/'table.csv', index=False)
    set_seed(0); p = get_preset('tiny')
    save_bundle(root/'untrained', FineTuneModel(image_encoder(p), len(TARGETS), ['stem']), [.5] * len(TARGETS), p)
    return root

BUNDLE = Path('demo')/'bundle'   # the tiny demo's bundle, inside `site`

@pytest.fixture(scope='module')
def one_process(site)->pd.DataFrame:
    code, out = xcardia('predict', '--table', site/'cohort'/'table.csv', '--bundle', site/BUNDLE, '--out', site/'one.csv', '--bs', 2)
    assert code == 0, out[-3000:]
    assert '2 failed' in out, out[-2000:]
    return read(site/'one.csv')

def test_every_study_has_one_row_and_failures_their_error(site, one_process):
    table = pd.read_csv(site/'cohort'/'table.csv', dtype=str)
    assert one_process.study_id.tolist() == table.study_id.tolist()
    failed = one_process.error.notna()
    assert failed.sum() == 2 and one_process.study_id[failed].tolist() == table.study_id[[3, 5]].tolist()
    assert 'no such file' in one_process.error[3] and one_process.loc[failed, TARGETS].isna().all().all()
    assert one_process.loc[~failed, TARGETS].apply(lambda c: c.between(0, 1)).all().all()
    assert (one_process.bundle == bundle_identity(site/BUNDLE)).all() and 'spacing_mm' in one_process   # extra columns carried

def test_a_killed_screening_resumes_without_loss_or_duplicate(site, one_process):
    out = site/'killed.csv'
    cmd = [sys.executable, '-m', 'xcardia.cli', 'predict', '--table', str(site/'cohort'/'table.csv'), '--bundle', str(site/BUNDLE),
           '--out', str(out), '--bs', '1']
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while time.time() - t0 < 300 and proc.poll() is None and (not out.exists() or out.read_bytes().count(b'\n') < 3): time.sleep(.02)
    proc.send_signal(signal.SIGKILL); proc.wait()
    rows_at_kill = out.read_bytes().count(b'\n') - 1
    assert 2 <= rows_at_kill < len(one_process), rows_at_kill          # killed in the middle
    code, log = xcardia('predict', '--table', site/'cohort'/'table.csv', '--bundle', site/BUNDLE, '--out', out, '--bs', 1)
    assert code == 0, log[-2000:]
    again = read(out)
    assert again.study_id.tolist() == one_process.study_id.tolist()    # each study once, in the table's order
    assert np.allclose(again[TARGETS].to_numpy(float), one_process[TARGETS].to_numpy(float), atol=1e-5, equal_nan=True)

def test_two_processes_write_the_one_process_result(site, one_process):
    code, log = xcardia('predict', '--table', site/'cohort'/'table.csv', '--bundle', site/BUNDLE, '--out', site/'two.csv', '--bs', 2,
                        launch=TORCHRUN)
    assert code == 0, log[-3000:]
    two = read(site/'two.csv')
    assert two.study_id.tolist() == one_process.study_id.tolist() and not list(site.glob('two.rank*.csv'))
    assert two.error.fillna('').tolist() == one_process.error.fillna('').tolist()
    assert np.allclose(two[TARGETS].to_numpy(float), one_process[TARGETS].to_numpy(float), atol=1e-5, equal_nan=True)

def test_nothing_readable_exits_2(site, tmp_path):
    pd.DataFrame({'patient_id': ['P1'], 'study_id': ['S1'], 'image_path': ['nowhere.nii.gz']}).to_csv(tmp_path/'t.csv', index=False)
    code, log = xcardia('predict', '--table', tmp_path/'t.csv', '--bundle', site/BUNDLE, '--out', tmp_path/'o.csv')
    assert code == 2 and 'no study could be read' in log, log[-2000:]
    assert read(tmp_path/'o.csv').error.str.contains('no such file').all()

def test_embed_a_table_from_a_pretraining_run(site):
    args = ('embed', '--table', site/'cohort'/'table.csv', '--encoder', site/'demo'/'pretrain'/'mmcl', '--out', site/'emb.parquet', '--bs', 3)
    code, log = xcardia(*args)
    assert code == 0 and '2 failed' in log, log[-2000:]
    emb = pd.read_parquet(site/'emb.parquet')
    table = pd.read_csv(site/'cohort'/'table.csv', dtype=str)
    assert sorted(emb.study_id) == sorted(table.study_id) and emb.error.notna().sum() == 2
    e = emb.loc[emb.error.isna()].filter(regex=r'^emb_').to_numpy()
    assert e.shape[1] == get_preset('tiny').d and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-3)   # Eq. (1): unit length
    code, log = xcardia(*args)
    assert code == 0 and '0 in this run' in log and len(pd.read_parquet(site/'emb.parquet')) == len(table)   # resumed: nothing redone

def test_embed_refuses_a_bundle_without_a_pretrained_encoder(site, tmp_path):
    code, log = xcardia('embed', '--table', site/'cohort'/'table.csv', '--encoder', site/'untrained', '--out', tmp_path/'e')
    assert code == 2 and 'holds no pre-trained encoder' in log, log[-2000:]
