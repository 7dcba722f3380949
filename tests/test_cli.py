"The `xcardia` command end to end: the tiny demo, each subcommand through a YAML config, the bundle, and user errors."
import re, subprocess, sys
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import yaml
from xcardia.stages import EXAMPLE_CONFIG, load_config, UserError
from xcardia.core import TARGET_NAMES
from xcardia.synthetic import make_cohort
from conftest import cli_here, console_command

ROOT = Path(__file__).resolve().parents[1]

def xcardia_process(*args, cwd=None):
    "Run the installed console script (next to this Python) in its own process, returning (exit code, stdout, stderr)."
    r = subprocess.run(console_command() + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=900)
    return r.returncode, r.stdout, r.stderr

xcardia = cli_here   # in this process; `xcardia_process` runs the installed script itself (the demo fixture, one user error)

def test_console_script_installed():
    assert (Path(sys.executable).parent/'xcardia').exists(), "settings.ini's console_scripts should install `xcardia`"

def test_example_config_ships_and_matches():
    assert (ROOT/'examples'/'config.yaml').read_text() == EXAMPLE_CONFIG
    cfg = load_config(ROOT/'examples'/'config.yaml', check_files=False)
    assert cfg['preset'] == 'small' and cfg['finetune']['regimes'] == ['full', '5shot']

@pytest.fixture(scope='module')
def demo(tiny_demo):
    "The tiny demo's output folder (the session's one run, `tests/conftest.py`)."
    return tiny_demo

def test_demo_says_each_stage_time_and_place(demo):
    err = (demo.parent/'stderr.txt').read_text()
    for stage in ('cohort', 'pretrain/nw_mmcl', 'pretrain/simclr', 'finetune/none/5shot'):
        assert re.search(rf"done in \d+ s -> \S*{stage}\n", err), stage
    assert re.search(r"report in \d+ s -> \S*report\.md", err)

def test_demo_report_holds_every_table(demo):
    md = (demo/'report'/'report.md').read_text()
    for title in ('Table A.1 analogue', 'Table 1 analogue', 'Table 2 analogue', 'Table 3 analogue', 'Figure 2 analogue',
                  'Figure D.1 analogue', 'Exemplar explanation', 'Calibration', 'Which differences are supported', 'Wall time of each stage',
                  'Configuration', 'Package versions'):
        assert title in md, title
    for f in ('report.html', 'fig_pca.png', 'fig_gradcam.png', 'fig_exemplars.png', 'fig_calibration.png', 'fig_comparisons.png', 'comparisons.csv', 'stage_times.csv'):
        assert (demo/'report'/f).stat().st_size > 0, f
    cam = pd.read_csv(demo/'report'/'cam_heart_shares.csv', index_col=0)   # several displaced-heart phantoms + their mean
    assert len(cam) >= 3 and cam.index[-1] == 'mean' and {'NW+MMCL head', 'centred blob (reference)'} <= set(cam.columns)
    assert ((cam >= 0) & (cam <= 1)).all().all()
    html = (demo/'report'/'report.html').read_text()
    assert '<table>' in html and "src='fig_pca.png'" in html

def test_demo_report_fits_the_page_in_a_browser(demo, report_browser):
    "The demo's report.html in headless Chromium at 1280 and 900 px: no figure or table overflows, every figure loads."
    assert report_browser.layout_problems(demo/'report'/'report.html') == []

def test_demo_numbers_finite_where_both_classes(demo):
    lab = pd.read_parquet(demo/'cohort'/'labelled.parquet')
    test = lab[lab.split == 'test']
    for method in ('nw_mmcl', 'mmcl', 'simclr', 'linear_mmcl', 'none'):
        for regime in ('full', '5shot'):
            r = pd.read_csv(demo/'report'/'results'/f'{method}_{regime}.csv', index_col=0)
            assert list(r.index) == list(TARGET_NAMES)
            for t in TARGET_NAMES:
                known = test[t].dropna()
                if known.nunique() == 2:
                    assert np.isfinite(r.loc[t, ['auroc', 'ap', 'f1']].astype(float)).all(), (method, regime, t)
                    assert r.loc[t, 'auroc_lo'] <= r.loc[t, 'auroc'] <= r.loc[t, 'auroc_hi']
                else:
                    assert np.isnan(r.loc[t, 'auroc']) and isinstance(r.loc[t, 'reason'], str), (method, regime, t)
    cmp = pd.read_csv(demo/'report'/'comparisons.csv')
    assert {'NW+MMCL − MMCL', 'NW+MMCL − no pre-training'} <= set(cmp.comparison)
    assert ((cmp['CI low'] <= cmp['mean AUROC difference']) & (cmp['mean AUROC difference'] <= cmp['CI high'])).all()

def test_demo_rerun_reuses_stages_and_refuses_other_config(demo):
    stamps = {p: p.stat().st_mtime_ns for p in demo.glob('**/done.json')}
    code, _, err = xcardia('demo', '--out', demo, '--size', 'tiny')
    assert code == 0, err[-2000:]
    assert {p: p.stat().st_mtime_ns for p in demo.glob('**/done.json')} == stamps
    code, _, err = xcardia('demo', '--out', demo, '--size', 'tiny', '--seed', '3')
    assert code == 2 and 'different configuration' in err and 'seed' in err and 'Traceback' not in err

@pytest.fixture(scope='module')
def own_data(tmp_path_factory):
    "A tiny synthetic cohort laid out like a user's data: tables in a folder, a config beside them with relative paths."
    root = tmp_path_factory.mktemp('hospital')
    make_cohort(root/'tables', n_patients=40, seed=5)
    cfg = yaml.safe_load(EXAMPLE_CONFIG)
    cfg.update(out='runs/x', preset='tiny', cache_dir='cache')
    cfg['pretrain'].update(variants=['nw_mmcl'], epochs=1, lambda_sweep=[0.8])
    cfg['finetune'].update(methods=['nw_mmcl', 'none'], regimes=['full'], fractions=[0.5], epochs=1)
    cfg['evaluate'].update(n_boot=50)
    (root/'config.yaml').write_text(yaml.safe_dump(cfg, sort_keys=False))
    return root

def test_subcommands_through_config(own_data):
    cfg = own_data/'config.yaml'
    for cmd in ('cohort', 'pretrain', 'finetune', 'evaluate'):
        code, _, err = xcardia(cmd, cfg, cwd=own_data)
        assert code == 0, (cmd, err[-3000:])
        assert 'outputs in' in err.splitlines()[-1], err[-500:]
    out = own_data/'runs'/'x'
    assert (out/'cohort'/'done.json').exists() and (out/'pretrain'/'nw_mmcl_lambda0.8'/'encoder.safetensors').exists()
    for m, r in (('nw_mmcl', 'full'), ('none', 'full'), ('nw_mmcl', 'frac0.5'), ('none', 'frac0.5'), ('nw_mmcl_lambda0.8', 'full')):
        assert (out/'finetune'/m/r/'preds.npz').exists(), (m, r)
    md = (out/'report'/'report.md').read_text()
    assert 'Table B.1 analogue' in md and 'Table C.1 analogue' in md
    lab = pd.read_parquet(out/'cohort'/'labelled.parquet'); pre = pd.read_parquet(out/'cohort'/'pretrain.parquet')
    assert not set(pre.patient_id) & set(lab.patient_id[lab.split == 'test'])      # test patients never pre-trained on
    # predict through the bundle the evaluate stage wrote
    cts = lab.image_path[lab.split == 'test'].head(2).tolist()
    code, _, err = xcardia('predict', *cts, '--bundle', out/'bundle', '--exemplars', '2', '--csv', own_data/'pred.csv')
    assert code == 0, err[-2000:]
    pred = pd.read_csv(own_data/'pred.csv', index_col=0)
    assert list(pred.index) == cts and pred[list(TARGET_NAMES)].apply(lambda c: c.between(0, 1)).all().all()
    assert {'exemplar_1_study', 'exemplar_2_weight', f'{TARGET_NAMES[0]}_flag'} <= set(pred.columns)

def test_subcommand_resumes_interrupted_stage(own_data):
    "A fine-tuning whose done.json is gone (interrupted after its last checkpoint) resumes instead of starting over."
    out = own_data/'runs'/'x'
    folder = out/'finetune'/'none'/'full'
    (folder/'done.json').unlink()
    code, _, err = xcardia('finetune', own_data/'config.yaml', '--method', 'none', '--regime', 'full', cwd=own_data)
    assert code == 0 and 'resuming after epoch' in err, err[-2000:]
    assert (folder/'done.json').exists()

@pytest.mark.parametrize('case', ['missing key', 'no such path', 'table lacks a column', 'different config', 'no config file'])
def test_bad_input_is_one_line_exit_2(tmp_path, case):
    (tmp_path/'ct.csv').write_text('patient_id,study_id,study_date\nP1,S1,2020-01-01\n')
    (tmp_path/'echo.csv').write_text('patient_id,exam_date,lvef\nP1,2020-01-02,50\n')
    good = {'out': 'o', 'data': {'ct': 'ct.csv', 'echo': 'echo.csv', 'ecg': None}}
    cfgs = {'missing key': {'out': 'o', 'data': {'ct': 'ct.csv'}},
            'no such path': {'out': 'o', 'data': {'ct': 'ct.csv', 'echo': 'nowhere/echo.csv'}},
            'table lacks a column': good, 'different config': {**good, 'preset': 'tiny'}}
    expect = {'missing key': "missing key 'data.echo'", 'no such path': 'data.echo = ', 'no config file': 'no such config file',
              'table lacks a column': "CT table lacks column(s) ['image_path']", 'different config': 'different configuration (differs in preset: "small" there, "tiny" now)'}
    if case == 'different config':
        (tmp_path/'o').mkdir(); (tmp_path/'o'/'config.yaml').write_text(yaml.safe_dump(load_config(good, base=tmp_path)))
    if case != 'no config file': (tmp_path/'c.yaml').write_text(yaml.safe_dump(cfgs[case]))
    run = xcardia_process if case == 'missing key' else xcardia           # the console script itself once: one line, exit code 2
    code, out, err = run('cohort', tmp_path/'c.yaml')
    assert code == 2, (case, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('xcardia: error:') and expect[case] in lines[0], (case, err)

def test_seeds_options_parse():
    from xcardia.cli import _parser
    assert _parser().parse_args(['demo', '--seeds', '0', '1', '2']).seeds == [0, 1, 2]
    assert _parser().parse_args(['demo']).seeds is None
    assert _parser().parse_args(['run', 'c.yaml', '--seeds', '0', '3']).seeds == [0, 3]

def test_run_seeds_refused_without_the_config_seed(tmp_path):
    (tmp_path/'ct.csv').write_text('patient_id\n'); (tmp_path/'echo.csv').write_text('patient_id\n')
    (tmp_path/'c.yaml').write_text("out: o\ndata:\n  ct: ct.csv\n  echo: echo.csv\n  ecg: null\n")
    code, _, err = xcardia('run', tmp_path/'c.yaml', '--seeds', '1', '2')
    assert code == 2 and 'must include seed (0)' in err, err

def test_study_config_loads_and_names_every_lever():
    cfg = load_config(ROOT/'examples'/'study_nw.yaml', check_files=False)
    assert cfg['seeds'] == [0, 1, 2] and cfg['preset'] == 'small' and cfg['pretrain']['diagnostics']
    from xcardia.stages import pretrain_names, run_spec
    names = pretrain_names(cfg)
    screened = [r for r, spec in cfg['pretrain']['runs'].items() if spec.get('seeds') == [0]]
    assert len(names) == 3 * 2 + 10 + 2 * (10 - len(screened))           # nw_mmcl and mmcl at 3 seeds, each lever at its own seeds
    assert 'nw_mmcl_seed2' in names and all(f"{r}_seed1" not in names for r in screened)
    settings = {n: run_spec(cfg, n) for n in cfg['pretrain']['runs']}
    assert settings['nw_img'][1].nw_query == 'image' and settings['nw_stopgrad'][1].nw_tab_grad is False
    assert settings['nw_pos'][1].bank == 'positives' and 'echo_lvef' in settings['mmcl_excl'][2] and settings['mmcl_excl'][0] == 'mmcl'
    assert settings['nw_meas'][1].nw_targets == 'measurements'
    assert set(cfg['pretrain']['runs']) <= set(cfg['finetune']['methods'])   # every lever is fine-tuned and compared

def test_demo_tiny_reads_its_ct_through_the_index(demo):
    "The tiny demo walks a user's path: its CT table comes from `xcardia index` on the synthetic PACS export."
    ct, series = pd.read_csv(demo/'data'/'ct_studies.csv'), pd.read_csv(demo/'data'/'index'/'series.csv')
    assert ct.image_path.str.contains('::').all()
    assert {'selected', 'localizer', 'sharper kernel'} <= set(series.reason)
    assert series.selected.sum() == len(ct) == len(pd.read_csv(demo/'data'/'ct_truth.csv'))
    assert 'each read from its intended series' in (demo.parent/'stderr.txt').read_text()

def test_index_settings_checked_when_the_config_loads(tmp_path):
    cfg = yaml.safe_load(EXAMPLE_CONFIG)
    cfg['index']['max_thicknes'] = 3
    (tmp_path/'c.yaml').write_text(yaml.safe_dump(cfg))
    with pytest.raises(UserError, match='unknown key .index.max_thicknes'): load_config(tmp_path/'c.yaml', check_files=False)
    cfg = yaml.safe_load(EXAMPLE_CONFIG); cfg['index']['study_id'] = 'mrn'
    (tmp_path/'c.yaml').write_text(yaml.safe_dump(cfg))
    with pytest.raises(UserError, match='study_id must be uid or accession'): load_config(tmp_path/'c.yaml', check_files=False)

def test_predict_reads_a_named_series(demo, tmp_path):
    "`xcardia predict FOLDER::SERIES_UID` through the demo's bundle; the bare study folder (several series) is refused."
    ct = pd.read_csv(demo/'data'/'ct_studies.csv')
    paths = ct.image_path.head(2).tolist()
    code, _, err = xcardia('predict', *paths, '--bundle', demo/'bundle', '--csv', tmp_path/'pred.csv')
    assert code == 0, err[-2000:]
    pred = pd.read_csv(tmp_path/'pred.csv', index_col=0)
    assert list(pred.index) == paths and pred[list(TARGET_NAMES)].apply(lambda c: c.between(0, 1)).all().all()
    flat = [p.split('::')[0] for p in ct.image_path if Path(p.split('::')[0]).name.startswith('S')]   # flat study folders
    if flat:
        code, _, err = xcardia('predict', flat[0], '--bundle', demo/'bundle')
        assert code == 2 and 'DICOM series' in err

def _cohort_config(root:Path, out:str, **data)->Path:
    cfg = yaml.safe_load(EXAMPLE_CONFIG)
    cfg.update(out=out, preset='tiny', cache_dir='cache'); cfg['data'].update(data)
    f = root/f'{out}.yaml'; f.write_text(yaml.safe_dump(cfg, sort_keys=False)); return f

def test_units_checked_on_the_way_in(tmp_path):
    """The built-in cohort's ECHO table with LVEF in fractions and TR Vmax in cm/s: refused with the unit named; declared, the labels
    are those of the original table; a typo becomes missing and is listed with its file line."""
    make_cohort(tmp_path/'tables', n_patients=40, seed=5, tables_only=True)
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'orig'), cwd=tmp_path)
    assert code == 0, err[-2000:]
    echo = pd.read_csv(tmp_path/'tables'/'echo_exams.csv', keep_default_na=False, na_values=[''])
    bad = echo.assign(lvef=echo.lvef / 100, tr_vmax=echo.tr_vmax * 100)
    bad.loc[3, 'pasp'] = 999.                                                         # a typo, line 5 of the file
    bad.to_csv(tmp_path/'tables'/'echo_fraction.csv', index=False)
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'frac', echo='tables/echo_fraction.csv'), cwd=tmp_path)
    assert code == 2 and "column 'lvef'" in err and 'data.units: {lvef: fraction}' in err, err[-2000:]
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'conv', echo='tables/echo_fraction.csv',
                                                    units={'lvef': 'fraction', 'tr_vmax': 'cm/s'}), cwd=tmp_path)
    assert code == 0, err[-2000:]
    a, b = (pd.read_parquet(tmp_path/o/'cohort'/'labelled.parquet') for o in ('orig', 'conv'))
    for t in ('lvef_le45', 'tr_vmax_ge32', 'aortic_stenosis'):
        pd.testing.assert_series_equal(a[t], b[t])
    imp = pd.read_csv(tmp_path/'conv'/'cohort'/'implausible_values.csv')
    assert imp[['table', 'column', 'row', 'value']].values.tolist() == [['ECHO', 'pasp', 5, 999.]]
    assert '1 implausible measurement value(s) set missing' in err
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'u', units={'lvef': 'permille'}), cwd=tmp_path)
    assert code == 2 and "data.units.lvef = 'permille'" in err

def test_empty_ct_table_refused_as_empty(tmp_path):
    make_cohort(tmp_path/'tables', n_patients=10, seed=5, tables_only=True)
    pd.read_csv(tmp_path/'tables'/'ct_studies.csv').head(0).to_csv(tmp_path/'tables'/'empty.csv', index=False)
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'e', ct='tables/empty.csv'), cwd=tmp_path)
    assert code == 2 and 'CT table is empty' in err, err[-2000:]

def test_numeric_ids_keep_their_leading_zeros(tmp_path):
    "Patient ids written as zero-padded numbers in all three tables (00012): read as text, every study matches as before."
    make_cohort(tmp_path/'tables', n_patients=20, seed=5, tables_only=True)
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'orig'), cwd=tmp_path)
    assert code == 0, err[-2000:]
    for t in ('ct_studies', 'echo_exams', 'ecg_exams'):
        df = pd.read_csv(tmp_path/'tables'/f'{t}.csv', dtype={'patient_id': str}, keep_default_na=False, na_values=[''])
        df['patient_id'] = '000' + df.patient_id.str[1:]                                   # P00012 -> 00000012
        if t == 'ct_studies':                                   # one id with a letter: pandas would keep this column as text only
            df = pd.concat([df, df.tail(1).assign(patient_id='X1', study_id='SX')], ignore_index=True)
        df.to_csv(tmp_path/'tables'/f'{t}_num.csv', index=False)
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'num', ct='tables/ct_studies_num.csv', echo='tables/echo_exams_num.csv',
                                                    ecg='tables/ecg_exams_num.csv'), cwd=tmp_path)
    assert code == 0, err[-2000:]
    a, b = (pd.read_parquet(tmp_path/o/'cohort'/'labelled.parquet') for o in ('orig', 'num'))
    assert len(a) == len(b) and b.patient_id.str.startswith('000').all()
    assert pd.read_csv(tmp_path/'num'/'cohort'/'unmatched.csv').query("study_id == 'SX'").reason.item() == 'patient without exams'

def test_edited_table_is_not_silently_ignored(tmp_path):
    "The CT table halved after `xcardia cohort`: the rerun and every later stage refuse, naming the table; touched but unchanged is fine."
    make_cohort(tmp_path/'tables', n_patients=20, seed=5, tables_only=True)
    cfg = _cohort_config(tmp_path, 'run')
    assert xcardia('cohort', cfg, cwd=tmp_path)[0] == 0
    ct = tmp_path/'tables'/'ct_studies.csv'
    ct.write_bytes(ct.read_bytes())                                           # same bytes, new mtime: still the same table
    code, _, err = xcardia('cohort', cfg, cwd=tmp_path)
    assert code == 0, err[-2000:]
    df = pd.read_csv(ct); df.head(len(df) // 2).to_csv(ct, index=False)
    for cmd in ('cohort', 'pretrain'):
        code, _, err = xcardia(cmd, cfg, cwd=tmp_path)
        assert code == 2 and 'data.ct' in err and 'changed since `xcardia cohort` read it' in err, (cmd, err[-2000:])

def test_check_and_measurement_columns_in_your_names(tmp_path):
    """`xcardia check` on the built-in tables with the ECHO's LVEF renamed EF, mapped by `columns: {lvef: EF}`, a free-text column and
    `exclude_columns: [sbp]` (no prefix): it names what it would use and leave out; a cohort built so has the original labels."""
    make_cohort(tmp_path/'tables', n_patients=30, seed=5, tables_only=True)
    assert xcardia('cohort', _cohort_config(tmp_path, 'orig'), cwd=tmp_path)[0] == 0
    echo = pd.read_csv(tmp_path/'tables'/'echo_exams.csv', keep_default_na=False, na_values=[''])
    echo = echo.rename(columns={'lvef': 'EF'}).assign(comment=[f'note {i}: seen by Dr {i % 37}' for i in range(len(echo))])
    echo.to_csv(tmp_path/'tables'/'echo_ef.csv', index=False)
    cfg = _cohort_config(tmp_path, 'ef', echo='tables/echo_ef.csv', columns={'lvef': 'EF'}, exclude_columns=['sbp'])
    code, out, err = xcardia('check', cfg, cwd=tmp_path)
    assert code == 0, err[-2000:]
    assert 'model inputs' in out and "excluded by exclude_columns: ['echo_sbp']" in out and "'echo_comment' looks like free text" in out
    assert 'echo_lvef' in out.split('model inputs')[1] and 'preset tiny' in out
    assert not (tmp_path/'ef').exists()                                                  # check writes nothing
    assert xcardia('cohort', cfg, cwd=tmp_path)[0] == 0
    a, b = (pd.read_parquet(tmp_path/o/'cohort'/'labelled.parquet') for o in ('orig', 'ef'))
    pd.testing.assert_series_equal(a.lvef_le45, b.lvef_le45)
    cfg_keep = _cohort_config(tmp_path, 'keep', echo='tables/echo_ef.csv', columns={'lvef': 'EF'}, keep_columns=['comment'])
    code, out, err = xcardia('check', cfg_keep, cwd=tmp_path)                          # data.keep_columns: the free text as an input
    assert code == 0 and "'echo_comment'" in out.split('model inputs')[1].split('\n')[0] and 'looks like free text' not in out, (out, err[-2000:])
    code, _, err = xcardia('check', _cohort_config(tmp_path, 'x', columns={'lvefx': 'EF'}), cwd=tmp_path)
    assert code == 2 and "data.columns maps 'lvefx'" in err
    code, out, err = xcardia('check', _cohort_config(tmp_path, 'y', exclude_columns=['nosuch']), cwd=tmp_path)
    assert code == 2 and "exclude_columns names 'nosuch'" in err

def test_mixed_date_orders_refused_naming_dayfirst(tmp_path):
    make_cohort(tmp_path/'tables', n_patients=10, seed=5, tables_only=True)
    ct = pd.read_csv(tmp_path/'tables'/'ct_studies.csv')
    ct['study_date'] = pd.to_datetime(ct.study_date).dt.strftime('%d/%m/%Y')              # day first, some days > 12
    ct.to_csv(tmp_path/'tables'/'ct_dmy.csv', index=False)
    code, _, err = xcardia('check', _cohort_config(tmp_path, 'd', ct='tables/ct_dmy.csv'), cwd=tmp_path)
    assert code == 2 and 'set data.dayfirst: true' in err, err[-2000:]
    code, out, err = xcardia('check', _cohort_config(tmp_path, 'd2', ct='tables/ct_dmy.csv', dayfirst=True), cwd=tmp_path)
    assert code == 0, err[-2000:]

def test_demo_report_gives_operating_points(demo):
    "Each flag's threshold with sensitivity, specificity, PPV and NPV in the report and the bundle; `predict --help` says what a flag means."
    md = (demo/'report'/'report.md').read_text()
    assert '## Operating points' in md and 'test sensitivity' in md
    op = pd.read_csv(demo/'bundle'/'operating_points.csv')
    assert set(op.split) == {'val', 'test'} and {'sensitivity_lo', 'npv_hi', 'threshold_positives', 'reliable'} <= set(op.columns)
    code, out, _ = xcardia('predict', '--help')
    assert code == 0 and 'sensitivity, specificity, PPV and NPV' in ' '.join(out.split())

def test_errors_in_your_terms(tmp_path):
    "A missing grade column suggests YAML keys that exist (data.missing_columns: nan works); a bad grade word names your column and row."
    make_cohort(tmp_path/'tables', n_patients=20, seed=5, tables_only=True)
    echo = pd.read_csv(tmp_path/'tables'/'echo_exams.csv', keep_default_na=False, na_values=[''])
    echo.drop(columns='pr_grade').to_csv(tmp_path/'tables'/'echo_nopr.csv', index=False)
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'a', echo='tables/echo_nopr.csv'), cwd=tmp_path)
    assert code == 2 and "lacks column 'pr_grade'" in err and 'data.missing_columns: nan' in err, err[-2000:]
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'b', echo='tables/echo_nopr.csv', missing_columns='nan'), cwd=tmp_path)
    assert code == 0, err[-2000:]
    assert pd.read_parquet(tmp_path/'b'/'cohort'/'labelled.parquet').pulmonary_regurgitation.isna().all()
    bad = echo.rename(columns={'mr_grade': 'MR'}); bad.loc[6, 'MR'] = 'moderat'                   # line 8 of the file
    bad.to_csv(tmp_path/'tables'/'echo_typo.csv', index=False)
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'c', echo='tables/echo_typo.csv', columns={'mr_grade': 'MR'}), cwd=tmp_path)
    assert code == 2 and "Column 'MR' has grade word 'moderat' (row 8" in err, err[-2000:]

def test_no_match_says_why(tmp_path):
    "An empty ECHO table, and CT ids written otherwise than the ECHO's (1 against P00001): each stops with its own reason and examples."
    make_cohort(tmp_path/'tables', n_patients=10, seed=5, tables_only=True)
    echo = pd.read_csv(tmp_path/'tables'/'echo_exams.csv', keep_default_na=False, na_values=[''])
    echo.head(0).to_csv(tmp_path/'tables'/'echo_empty.csv', index=False)
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'e', echo='tables/echo_empty.csv'), cwd=tmp_path)
    assert code == 2 and 'the ECHO table has no exam' in err, err[-2000:]
    ct = pd.read_csv(tmp_path/'tables'/'ct_studies.csv', dtype={'patient_id': str})
    ct['patient_id'] = (ct.patient_id.str[1:].astype(int) + 1).astype(str)                    # P00001 -> 2
    ct.to_csv(tmp_path/'tables'/'ct_numbers.csv', index=False)
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'n', ct='tables/ct_numbers.csv'), cwd=tmp_path)
    assert code == 2 and 'no CT patient_id appears in the ECHO table' in err and "ECHO ids such as 'P0000" in err, err[-2000:]
    assert "CT ids such as '" + ct.patient_id[0] + "'" in err

def test_check_sees_a_missing_ct_file(tmp_path):
    "`xcardia check` names CT files that do not exist (before, only `xcardia cache` did), and says what would happen to them."
    make_cohort(tmp_path/'tables', n_patients=10, seed=5, tables_only=True)
    code, out, err = xcardia('check', _cohort_config(tmp_path, 'c'), cwd=tmp_path)
    assert code == 0 and 'image paths do not exist' in out, (out, err[-2000:])    # tables only: no CT was written
    n = len(pd.read_csv(tmp_path/'tables'/'ct_studies.csv'))
    assert f'CT files: {n} of {n} image paths do not exist' in out and 'data.skip_bad: true' in out

def test_quiet_and_verbose(tmp_path):
    "Progress lines go through the package's loggers: on by default in the command, off with --quiet; errors always."
    make_cohort(tmp_path/'tables', n_patients=10, seed=5, tables_only=True)
    code, _, err = xcardia('cohort', _cohort_config(tmp_path, 'a'), cwd=tmp_path)
    assert code == 0 and 'xcardia: done in' in err, err[-2000:]
    code, _, err = xcardia('--quiet', 'cohort', _cohort_config(tmp_path, 'b'), cwd=tmp_path)
    assert code == 0 and 'done in' not in err and 'warning: preset tiny' in err, err[-2000:]     # warnings stay
    code, _, err = xcardia('--quiet', 'cohort', _cohort_config(tmp_path, 'b', ct='nowhere.csv'), cwd=tmp_path)
    assert code == 2 and err.startswith('xcardia: error:'), err[-2000:]
