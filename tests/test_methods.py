"""The related methods' pre-training variants (issue #42) through the same plan as X-Cardia's, `xcardia run`: supcon at two
seeds with a supcon + NW run in the bundle and `predict` from it; ctrip with CTs that have one exam; teacher's two stages."""
import json, re
from pathlib import Path
import torch
import pandas as pd
import pytest
import yaml
from xcardia.stages import EXAMPLE_CONFIG, load_config
from xcardia.core import TARGET_NAMES
from xcardia.synthetic import make_cohort
from xcardia.settings import method_settings
from conftest import cli_here as xcardia

def write_config(root, out:str, pretrain:dict, finetune:dict, evaluate:dict|None=None, **top)->Path:
    "The example configuration at the tiny size over `root/tables`, with these sections' keys changed; its path."
    cfg = yaml.safe_load(EXAMPLE_CONFIG)
    cfg.update(out=out, preset='tiny', cache_dir='cache', **top)
    for k, v in (('pretrain', pretrain), ('finetune', finetune), ('evaluate', {'n_boot': 50, **(evaluate or {})})):
        cfg[k].update(v)
    (root/'config.yaml').write_text(yaml.safe_dump(cfg, sort_keys=False))
    return root/'config.yaml'

def predicts_from_bundle(root, out, exemplars:int=0):
    "`xcardia predict` of two test CTs through the run's bundle: one row each, probabilities in [0, 1]."
    lab = pd.read_parquet(out/'cohort'/'labelled.parquet')
    cts = lab.image_path[lab.split == 'test'].head(2).tolist()
    code, _, err = xcardia('predict', *cts, '--bundle', out/'bundle', '--exemplars', str(exemplars), '--csv',
                           root/'pred.csv')
    assert code == 0, err[-2000:]
    pred = pd.read_csv(root/'pred.csv', index_col=0)
    assert list(pred.index) == cts and pred[list(TARGET_NAMES)].apply(lambda c: c.between(0, 1)).all().all()
    return pred

@pytest.fixture(scope='module')
def supcon_run(tmp_path_factory):
    "`xcardia run` of the supcon variant and a supcon + NW run (learned temperature), two seeds, the tiny size."
    root = tmp_path_factory.mktemp('methods')
    make_cohort(root/'tables', n_patients=40, seed=5)
    runs = {'supcon_nw': {'variant': 'supcon', 'nw_head': True, 'learnable_tau': True, 'seeds': [0]}}
    cfg = write_config(root, 'runs/m', dict(variants=['supcon'], epochs=1, positives='any', runs=runs),
                       dict(methods=['supcon', 'supcon_nw', 'none'], regimes=['full'], epochs=1),
                       dict(bundle='supcon_nw/full'), seeds=[0, 1])
    code, _, err = xcardia('run', cfg, cwd=root)
    assert code == 0, err[-3000:]
    return root, root/'runs'/'m'

def test_supcon_runs_through_the_plan(supcon_run):
    root, out = supcon_run
    for name, seeds in (('supcon', (0, 1)), ('supcon_nw', (0,))):
        for s in seeds:
            folder = out/'pretrain'/(name if s == 0 else f'{name}_seed{s}')
            hist = pd.read_csv(folder/'history.csv')
            assert hist.train_positives.iloc[-1] > 0 and hist.train_supcon_loss.notna().all(), folder   # positives found
            assert ('train_nw_loss' in hist) == (name == 'supcon_nw') and ('train_tau' in hist) == (name == 'supcon_nw')
            assert (folder/'encoder.safetensors').exists()
    for m in ('supcon', 'supcon_seed1', 'supcon_nw', 'none', 'none_seed1'):
        assert (out/'finetune'/m/'full'/'preds.npz').exists(), m
    md = (out/'report'/'report.md').read_text()
    assert 'SupCon' in md

def test_supcon_bundle_records_its_settings_and_predicts(supcon_run):
    root, out = supcon_run
    man = json.loads((out/'bundle'/'bundle.json').read_text())
    s = method_settings(man['pretrained']['settings'])
    assert (s.nw_head, s.learnable_tau, s.positives, man['pretrained']['head']) == (True, True, 'any', 'nw')
    predicts_from_bundle(root, out, exemplars=2)

@pytest.fixture(scope='module')
def ctrip_run(tmp_path_factory):
    "`xcardia run` of variant ctrip where a third of the patients have no ECG: their CTs pre-train on the CT-ECHO term."
    root = tmp_path_factory.mktemp('ctrip')
    paths = make_cohort(root/'tables', n_patients=40, seed=6)
    ecg = pd.read_csv(paths['ecg'])
    gone = sorted(ecg.patient_id.unique())[::3]
    ecg[~ecg.patient_id.isin(gone)].to_csv(paths['ecg'], index=False)
    cfg = write_config(root, 'runs/c', dict(variants=['ctrip', 'mmcl'], epochs=1),
                       dict(methods=['ctrip', 'none'], regimes=['full'], epochs=1), dict(bundle='ctrip/full'))
    code, _, err = xcardia('run', cfg, cwd=root)
    assert code == 0, err[-3000:]
    return root, root/'runs'/'c', set(gone), err

def test_ctrip_pretrains_on_ct_with_one_exam(ctrip_run):
    root, out, gone, err = ctrip_run
    pre, pre_any = (pd.read_parquet(out/'cohort'/f) for f in ('pretrain.parquet', 'pretrain_any.parquet'))
    extra = pre_any[~pre_any.study_id.isin(pre.study_id)]
    one = extra.echo_gap_days.isna() ^ extra.ecg_gap_days.isna()
    assert len(extra) and one.all()                                  # each added CT has exactly one of the two exams
    assert extra[extra.patient_id.isin(gone)].ecg_gap_days.isna().all() and extra.patient_id.isin(gone).any()
    assert f"variant ctrip also pre-trains on {len(extra)} CT studies with one of the two exams" in err
    done = json.loads((out/'cohort'/'done.json').read_text())
    assert done['pretrain_one_exam'] == len(extra)
    lab = pd.read_parquet(out/'cohort'/'labelled.parquet')
    assert not set(pre_any.patient_id) & set(lab.patient_id[lab.split == 'test'])      # test patients never pre-trained on
    hist = pd.read_csv(out/'pretrain'/'ctrip'/'history.csv')
    assert 0 < hist.train_with_ecg.iloc[-1] < 1 and hist.train_clip_ecg_loss.notna().all()
    assert (out/'finetune'/'ctrip'/'full'/'preds.npz').exists()
    predicts_from_bundle(root, out)
    probes = pd.read_csv(out/'report'/'probes.csv')
    assert {'ctrip', 'mmcl', 'none', 'ecg_only'} <= set(probes.method)              # the runs' names
    assert (probes[probes.method == 'ctrip'].probe == 'retrieval_top1').any()
    guess = probes[probes.probe == 'mean_guess'].set_index(['method', 'target'])
    lin = probes[(probes.probe == 'linear') & (probes.metric == 'mae')].set_index(['method', 'target'])
    assert len(lin) and guess.loc[lin.index, 'value'].tolist() == lin.chance.tolist()    # a mean-guess row per MAE

def test_ctrip_refused_without_an_ecg_table(tmp_path):
    cfg = {'out': str(tmp_path/'o'), 'data': {'ct': 'a', 'echo': 'b'}, 'pretrain': {'variants': ['ctrip']}}
    with pytest.raises(Exception, match='needs data.ecg; without an ECG table use variant mmcl'):
        load_config(cfg, base=tmp_path, check_files=False)

@pytest.fixture(scope='module')
def teacher_run(tmp_path_factory):
    "`xcardia run` of variant teacher and a teacher + NW run: stage 1 on every exam, then the CT aligned to it, frozen."
    root = tmp_path_factory.mktemp('teacher')
    make_cohort(root/'tables', n_patients=40, seed=7)
    runs = {'teacher_nw': {'variant': 'teacher', 'nw_head': True}}
    cfg = write_config(root, 'runs/t', dict(variants=['teacher'], epochs=1, teacher_epochs=3, runs=runs),
                       dict(methods=['teacher', 'teacher_nw', 'none'], regimes=['full'], epochs=1),
                       dict(bundle='teacher_nw/full'))
    code, _, err = xcardia('run', cfg, cwd=root)
    assert code == 0, err[-3000:]
    return root, root/'runs'/'t', err

def test_teacher_stage_one_then_frozen(teacher_run):
    from xcardia.core import read_tensors
    root, out, err = teacher_run
    lab = pd.read_parquet(out/'cohort'/'labelled.parquet')
    for name in ('teacher', 'teacher_nw'):
        folder = out/'pretrain'/name
        assert len(pd.read_csv(folder/'teacher'/'history.csv')) == 3
        errors = pd.read_csv(folder/'teacher'/'feature_errors.csv')
        assert {'feature', 'error', 'mean_guess'} <= set(errors.columns) and len(errors) > 5
        stage1 = read_tensors(folder/'teacher'/'teacher.safetensors')[0]
        model = read_tensors(folder/'model.safetensors')[0]
        for k, v in stage1.items():                                  # stage 2 left the teacher as stage 1 made it
            assert torch.equal(model[f'tabular_encoder.{k}'], v), k
    assert re.search(r"pre-training teacher, stage 1 \(teacher\): (\d+) exam rows", err)
    n_rows = int(re.search(r"stage 1 \(teacher\): (\d+) exam rows", err).group(1))
    assert n_rows > len(pd.read_parquet(out/'cohort'/'pretrain.parquet'))          # more exams than CT pairs
    md = (out/'report'/'report.md').read_text()
    assert "The teacher's stage 1" in md and (out/'report'/'fig_teacher.png').exists()
    man = json.loads((out/'bundle'/'bundle.json').read_text())
    assert man['pretrained']['head'] == 'nw' and method_settings(man['pretrained']['settings']).nw_head
    predicts_from_bundle(root, out)

def test_training_levers_reach_the_fits(tmp_path):
    "Warm-up, clipping, the class-balanced sampler and balanced positive weights, set in the YAML, reach both fits."
    make_cohort(tmp_path/'tables', n_patients=30, seed=8)
    levers = dict(warmup=.2, grad_clip=1., positive_share=.3)
    cfg = write_config(tmp_path, 'runs/l', dict(variants=['mmcl'], epochs=2, **levers),
                       dict(methods=['mmcl'], regimes=['full'], epochs=2, pos_weight='balanced', **levers))
    for stage in ('cohort', 'pretrain', 'finetune'):
        code, _, err = xcardia(stage, cfg, cwd=tmp_path)
        assert code == 0, err[-3000:]
    out = tmp_path/'runs'/'l'
    pre = json.loads((out/'pretrain'/'mmcl'/'done.json').read_text())
    ft = json.loads((out/'finetune'/'mmcl'/'full'/'done.json').read_text())
    assert pre['train'] == {**levers, 'pos_weight': None} and ft['train'] == {**levers, 'pos_weight': 'balanced'}
    lab = pd.read_parquet(out/'cohort'/'labelled.parquet')
    y = lab.loc[lab.split == 'train', list(TARGET_NAMES)]
    want = [(y[t] == 0).sum() / (y[t] == 1).sum() if (y[t] == 1).any() and (y[t] == 0).any() else 1. for t in TARGET_NAMES]
    assert ft['pos_weight'] == pytest.approx(want)

def test_teacher_with_few_exams_says_so_and_runs(tmp_path):
    "Every CT study listed twice: more CT pairs than exam rows, so stage 1 sees nothing new; said, and the run goes on."
    paths = make_cohort(tmp_path/'tables', n_patients=30, studies_per_patient=(1, 1), outside_window=0., seed=9)
    ct = pd.read_csv(paths['ct'], dtype={'patient_id': str, 'study_id': str})
    pd.concat([ct, ct.assign(study_id=ct.study_id + 'b')]).to_csv(paths['ct'], index=False)
    cfg = write_config(tmp_path, 'runs/f', dict(variants=['teacher'], epochs=1, teacher_epochs=1),
                       dict(methods=['teacher'], regimes=['full'], epochs=1))
    for stage in ('cohort', 'pretrain'):
        code, _, err = xcardia(stage, cfg, cwd=tmp_path)
        assert code == 0, err[-3000:]
    m = re.search(r"teacher learns from (\d+) exam rows, no more than the (\d+) CT pairs", err)
    assert m and int(m.group(1)) <= int(m.group(2)), err[-2000:]
    assert (tmp_path/'runs'/'f'/'pretrain'/'teacher'/'encoder.safetensors').exists()
