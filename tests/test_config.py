"A run folder written before the typed configuration (`tests/data/run_v0`: its config.yaml and stage records) is read by this version."
import shutil
from pathlib import Path
import pytest
from xcardia.config import UserError, load_config
from xcardia.stages import demo_config, prepare_out, stage_done

FIXTURE, OLD_OUT = Path(__file__).parent/'data'/'run_v0', '/tmp/before'

@pytest.fixture
def old_run(tmp_path)->Path:
    "The recorded run folder, at a new place (its configuration's paths moved with it)."
    out = tmp_path/'run'; shutil.copytree(FIXTURE, out)
    f = out/'config.yaml'; f.write_text(f.read_text().replace(OLD_OUT, str(out)))
    return out

def test_an_old_run_folder_is_the_same_configuration(old_run):
    # the demo fine-tunes severity targets since #29; the recorded run did not (`finetune.targets` absent: its default, the ten)
    cfg = demo_config(old_run, 'tiny', sweeps=True, seeds=[0, 1]).updated(finetune={'targets': ['binary']})
    assert load_config(old_run/'config.yaml', check_files=False).to_dict() == cfg.to_dict()
    prepare_out(cfg)                                                   # not refused: the same configuration
    with pytest.raises(UserError, match='different configuration.*preset'): prepare_out(cfg.updated(preset='small'))

def test_the_plan_finds_every_finished_stage_of_an_old_run(old_run):
    cfg = demo_config(old_run, 'tiny', sweeps=True, seeds=[0, 1])
    assert [r.name for r in cfg.plan.pretrain] and {r.name for r in cfg.plan.pretrain} == {p.name for p in (old_run/'pretrain').iterdir()}
    done = {(p.parent.parent.name, p.parent.name) for p in (old_run/'finetune').glob('*/*/done.json')}
    assert {r.key for r in cfg.plan.finetune} == done and len(done) == 42
    assert all(stage_done(r.folder) for r in cfg.plan.pretrain + cfg.plan.finetune)
    assert {r.seed for r in cfg.plan.finetune if r.name.endswith('_seed1')} == {1}
    assert {r.pretrained.lambda_sweep for r in cfg.plan.finetune if r.name.startswith('nw_mmcl_lambda')} == {0.2, 0.8}
