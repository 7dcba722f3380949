"""`xcardia cache CONFIG`: the cohort's CTs preprocessed into the cache before pre-training, each process its share under
torchrun: the same entries as one process, unreadable CTs listed (and refused unless `data.skip_bad`)."""
import os, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest, yaml
from xcardia.data import ct_cache
from xcardia.stages import demo_config, prepare_out, run_demo_data, run_cohort, read_cohort_stage

TORCHRUN = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'XCARDIA_DIST_TIMEOUT': '120'}

def xcardia(*args, procs=1, cwd=None):
    cmd = (TORCHRUN if procs == 2 else [sys.executable]) + ['-m', 'xcardia.cli', *map(str, args)]
    r = subprocess.run(cmd, env=ENV, cwd=cwd, capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr

@pytest.fixture(scope='module')
def cohort(tmp_path_factory):
    "A tiny matched cohort (NIfTI CTs) and its configuration with its own cache folder; one labelled CT then broken."
    base = tmp_path_factory.mktemp('cache')
    cfg = demo_config(base/'run', 'tiny', archive=False)
    prepare_out(cfg); run_demo_data(cfg, 'tiny'); run_cohort(cfg)
    f = base/'run.yaml'; f.write_text(yaml.safe_dump(cfg.to_dict()))
    return base, cfg, f

def entries(folder:Path)->dict: return {p.name: np.load(p) for p in Path(folder).glob('*.npy')}

def test_two_processes_fill_what_one_does(cohort):
    base, cfg, f = cohort
    rc, log = xcardia('cache', f, procs=2)
    assert rc == 0, log[-3000:]
    assert '2 processes (gloo)' in log and 'on 2 process(es)' in log
    paths = sorted(set(pd.concat([read_cohort_stage(cfg, w).image_path for w in ('labelled', 'pretrain')])))
    assert f"cached {len(paths)} CTs" in log
    two = entries(cfg.cache_dir)
    ref = ct_cache(cfg.preset, base/'one_process')
    assert ref.build(paths, progress=False) == []
    one = entries(base/'one_process')
    assert sorted(two) == sorted(one) and len(one) == len(paths)
    assert all(np.array_equal(two[k], one[k]) for k in one)
    assert not list(Path(cfg.cache_dir).glob('*.tmp.npy'))                   # no temporary file left behind
    rc, log = xcardia('cache', f)                                            # a rerun: every entry there, nothing rewritten
    assert rc == 0 and f"cached {len(paths)} CTs on 1 process(es)" in log, log[-2000:]
    assert {k: (Path(cfg.cache_dir)/k).stat().st_mtime_ns for k in two} == {k: (Path(cfg.cache_dir)/k).stat().st_mtime_ns for k in entries(cfg.cache_dir)}

def test_unreadable_ct_listed_and_refused(cohort, tmp_path):
    base, cfg, f = cohort
    lab = read_cohort_stage(cfg, 'labelled')
    bad = Path(lab.image_path.iloc[0])
    keep = bad.read_bytes(); bad.write_bytes(b'not a NIfTI')
    try:
        c = cfg.to_dict(); c['cache_dir'], c['out'] = str(tmp_path/'cache'), str(tmp_path/'run')   # a fresh cache; the matched cohort copied
        shutil.copytree(Path(cfg.out)/'cohort', tmp_path/'run'/'cohort')
        g = tmp_path/'run.yaml'; g.write_text(yaml.safe_dump(c))
        rc, log = xcardia('cache', g, procs=2)
    finally: bad.write_bytes(keep)
    assert rc != 0 and 'exitcode: 2' in log, log[-2000:]                             # each rank refused it (torchrun then exits 1)
    assert '1 CT(s) cannot be read' in log and 'data.skip_bad' in log and '1 unreadable, listed in' in log, log[-3000:]
    failed = pd.read_csv(tmp_path/'run'/'cache_fill'/'failed.csv')
    assert failed.image_path.tolist() == [str(bad)]
