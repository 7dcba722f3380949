"""`xcardia pretrain` under `torchrun` with two CPU processes (gloo), as a user launches it: one set of outputs, the NW bank
identical on every rank and refreshed, the same run as one process within tolerance, resume, fine-tuning refused, and a
failing rank ending the job at once instead of hanging."""
import copy, json, os, shutil, subprocess, sys, time
from pathlib import Path
import pytest, torch, yaml
from xcardia.stages import demo_config, prepare_out, run_demo_data, run_cohort

TORCHRUN = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2']   # standalone: a free port

def _env(**kw): return {**os.environ, 'OMP_NUM_THREADS': '1', 'XCARDIA_DIST_TIMEOUT': '120', **kw}

def _launch(args, cwd, procs=2, **env):
    "`xcardia` under torchrun (procs > 1) or as one process; returns (exit code, output)."
    cmd = (TORCHRUN[:-1] + [str(procs)] if procs > 1 else [sys.executable]) + ['-m', 'xcardia.cli'] + args
    r = subprocess.run(cmd, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr

@pytest.fixture(scope='module')
def cohort_cfg(tmp_path_factory):
    "A tiny synthetic cohort, matched once; each test copies the cohort into its own folder."
    base = tmp_path_factory.mktemp('ddp')
    cfg = demo_config(base/'run', 'tiny').updated(pretrain=dict(variants=['nw_mmcl', 'simclr'], epochs=2, refresh_every=1),
                                                 finetune=dict(methods=['nw_mmcl', 'simclr', 'none']))
    prepare_out(cfg); run_demo_data(cfg, 'tiny'); run_cohort(cfg)
    return cfg

def _config(cohort_cfg, folder:Path, **pretrain)->Path:
    "A copy of the tiny configuration writing into `folder` (with the matched cohort), its pretrain section updated."
    c = cohort_cfg.to_dict(); c['out'] = str(folder); c['pretrain'].update(pretrain)
    c['finetune']['methods'] = [m for m in c['finetune']['methods'] if m in c['pretrain']['variants'] or m == 'none']
    shutil.copytree(Path(cohort_cfg['out'])/'cohort', folder/'cohort')
    f = folder.with_suffix('.yaml'); f.write_text(yaml.safe_dump(c)); return f

def _banks(folder:Path)->dict:
    "The banks dumped by XCARDIA_BANK_DUMP: {(refresh, rank): {'z', 'y', 'ids'}}."
    out = {}
    from xcardia.core import read_tensors
    for f in folder.glob('bank_*_rank*.safetensors'):
        _, ep, rank = f.stem.split('_'); out[(ep, int(rank[4:]))] = read_tensors(f)[0]
    return out

def test_pretrain_under_torchrun(cohort_cfg, tmp_path):
    cfg = _config(cohort_cfg, tmp_path/'run')
    rc, log = _launch(['pretrain', str(cfg)], tmp_path, XCARDIA_BANK_DUMP=str(tmp_path/'banks'))
    assert rc == 0, log[-3000:]
    assert '2 processes (gloo)' in log
    for v in ('nw_mmcl', 'simclr'):
        d = tmp_path/'run'/'pretrain'/v
        assert json.loads((d/'done.json').read_text())['epochs'] == 2
        hist = (d/'history.csv').read_text().strip().splitlines()
        assert len(hist) == 3, hist                                   # one header, one row per epoch: one writer
        assert (d/'encoder.safetensors').exists() and (d/'model.safetensors').exists()
    assert log.count('xcardia: done in') == 2                          # one progress line per stage (rank 0 speaks)
    banks = _banks(tmp_path/'banks')
    assert sorted({e for e, _ in banks}) == ['0', '1', 'end']          # built before training, refreshed at epoch 1, and after the fit
    for e in ('0', '1', 'end'):                                        # identical on both ranks
        a, b = banks[(e, 0)], banks[(e, 1)]
        assert all(torch.equal(a[k].nan_to_num(-9.), b[k].nan_to_num(-9.)) for k in a), e
    assert not torch.equal(banks[('0', 0)]['z'][:5], banks[('1', 0)]['z'][:5])   # the refresh re-encoded with the trained encoders

def test_two_processes_match_one(cohort_cfg, tmp_path):
    "The same run on one process at batch 8 and on two at 4 each (the same global batches): see the tolerances below."
    one = _config(cohort_cfg, tmp_path/'one', variants=['nw_mmcl'], bs=8, epochs=3)
    two = _config(cohort_cfg, tmp_path/'two', variants=['nw_mmcl'], bs=4, epochs=3)
    rc1, log1 = _launch(['pretrain', str(one)], tmp_path, procs=1, XCARDIA_BANK_DUMP=str(tmp_path/'b1'), OMP_NUM_THREADS='2')
    rc2, log2 = _launch(['pretrain', str(two)], tmp_path, XCARDIA_BANK_DUMP=str(tmp_path/'b2'))
    assert rc1 == 0 and rc2 == 0, (log1[-2000:], log2[-2000:])
    import pandas as pd
    h1, h2 = (pd.read_csv(tmp_path/n/'pretrain'/'nw_mmcl'/'history.csv') for n in ('one', 'two'))
    # training: the same global batches and BatchNorm over them; only reduction order and the padded last batch differ
    assert ((h1.train_loss - h2.train_loss).abs() / h1.train_loss).max() < 0.02, (h1, h2)
    # validation: 9 studies; two processes pad the last global batch with one repeated study (CLIP over 2 instead of 1)
    assert ((h1.valid_loss - h2.valid_loss).abs() / h1.valid_loss).max() < 0.08, (h1, h2)
    b1, b2 = _banks(tmp_path/'b1')[('0', 0)], _banks(tmp_path/'b2')[('0', 0)]
    common = sorted(set(b1['ids'].tolist()) & set(b2['ids'].tolist()))
    assert len(common) >= 0.75 * len(b1['ids']), (b1['ids'], b2['ids'])   # k-means on near-equal embeddings: mostly the same exemplars
    pos = lambda b: [b['ids'].tolist().index(i) for i in common]
    cos = torch.nn.functional.cosine_similarity(b1['z'][pos(b1)], b2['z'][pos(b2)])
    assert cos.min() > 0.99, cos                                        # the untrained encoders' embeddings of the same studies

def test_resume_under_torchrun(cohort_cfg, tmp_path):
    cfg = _config(cohort_cfg, tmp_path/'run', variants=['nw_mmcl'], epochs=1)
    rc, log = _launch(['pretrain', str(cfg)], tmp_path)
    assert rc == 0, log[-2000:]
    folder = tmp_path/'run'/'pretrain'/'nw_mmcl'
    (folder/'done.json').unlink()                                      # an interrupted run: its checkpoint after epoch 0 stays
    for f in (cfg, tmp_path/'run'/'config.yaml'):                      # ... of a run that was to train 3 epochs
        c = yaml.safe_load(f.read_text()); c['pretrain']['epochs'] = 3; f.write_text(yaml.safe_dump(c))
    rc, log = _launch(['pretrain', str(cfg)], tmp_path)
    assert rc == 0, log[-2000:]
    assert 'nw_mmcl: resuming after epoch 1' in log
    assert len((folder/'history.csv').read_text().strip().splitlines()) == 4   # epochs 0, 1, 2: the log went on

def test_finetune_refused_under_torchrun(cohort_cfg, tmp_path):
    cfg = _config(cohort_cfg, tmp_path/'run')
    rc, log = _launch(['finetune', str(cfg)], tmp_path)
    assert rc != 0 and '`xcardia finetune` runs on one process' in log, log[-2000:]

def test_failing_rank_ends_the_job(tmp_path):
    "Rank 1 raises while rank 0 waits at a barrier: the launcher exits non-zero in seconds, not after the timeout."
    script = tmp_path/'fail.py'
    script.write_text("import os\nfrom xcardia.train import init_distributed, barrier\ninit_distributed()\n"
                      "if os.environ['RANK'] == '1': raise RuntimeError('a bad CT on rank 1')\nbarrier()\n")
    t0 = time.perf_counter()
    r = subprocess.run(TORCHRUN + [str(script)], env=_env(XCARDIA_DIST_TIMEOUT='300'), capture_output=True, text=True, timeout=280)
    assert r.returncode != 0 and 'a bad CT on rank 1' in r.stdout + r.stderr
    assert time.perf_counter() - t0 < 90

def test_mmcl_and_linear_head_under_accelerate_launch(cohort_cfg, tmp_path):
    "The other two variants, through `accelerate launch` (which starts the same processes as torchrun)."
    cfg = _config(cohort_cfg, tmp_path/'run', variants=['mmcl', 'linear_mmcl'], epochs=1)
    r = subprocess.run([sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
                        '-m', 'xcardia.cli', 'pretrain', str(cfg)], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    log = r.stdout + r.stderr
    assert r.returncode == 0 and '2 processes (gloo)' in log, log[-3000:]
    for v in ('mmcl', 'linear_mmcl'): assert (tmp_path/'run'/'pretrain'/v/'done.json').exists()
