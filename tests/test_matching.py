"match_exams against a brute-force loop on random tables; splits at scale."
import warnings
import numpy as np, pandas as pd, pytest
from xcardia.matching import match_exams, random_exam_tables, split_patients, pretraining_cohort, cohort_report

def brute_nearest(ct_row, exams, window, direction):
    "The chosen exam's row position by the documented rule, with a plain loop."
    best = None
    for pos, e in enumerate(exams.itertuples()):
        if e.patient_id != ct_row.patient_id: continue
        gap = (e.exam_date - ct_row.study_date).days
        if abs(gap) > window or (direction == 'before' and gap > 0) or (direction == 'after' and gap < 0): continue
        key = (abs(gap), 0 if gap <= 0 else 1, pos)   # nearer; then before the CT; then listed first
        if best is None or key < best[0]: best = (key, pos)
    return None if best is None else best[1]

@pytest.mark.parametrize('direction', ['nearest', 'before', 'after'])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_match_exams_equals_brute_force(direction, seed):
    ct, echo, ecg = random_exam_tables(60, n_ct=150, n_echo=400, n_ecg=10, seed=seed)
    rng = np.random.default_rng(seed)
    echo['exam_date'] = pd.Timestamp('2016-01-01') + pd.to_timedelta(rng.integers(0, 120, len(echo)), unit='D')  # many ties
    ct['study_date'] = pd.Timestamp('2016-01-01') + pd.to_timedelta(rng.integers(0, 120, len(ct)), unit='D')
    echo = echo.drop_duplicates().reset_index(drop=True)
    window = 20
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        cohort, unmatched = match_exams(ct, echo, window_days=window, direction=direction)
    assert len(cohort) + len(unmatched) == len(ct)
    got = dict(zip(cohort.study_id, cohort.echo_lvef.fillna(-1) + 1000 * cohort.echo_gap_days))
    for r in ct.itertuples():
        pos = brute_nearest(r, echo, window, direction)
        if pos is None: assert r.study_id not in got
        else:
            e = echo.iloc[pos]
            expect = (-1 if np.isnan(e.lvef) else e.lvef) + 1000 * (e.exam_date - r.study_date).days
            assert got[r.study_id] == pytest.approx(expect), (r.study_id, direction)

def test_no_patient_in_two_splits_and_no_test_patient_in_pretraining():
    ct, echo, ecg = random_exam_tables(10_000, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ft, _ = match_exams(ct, echo, ecg, require=('echo',))
        pt, _ = match_exams(ct, echo, ecg)
    s = split_patients(ft, test=.15, seed=0, stratify='lvef_le45')
    assert (s.groupby(ft.patient_id).nunique() == 1).all()
    assert s.equals(split_patients(ft, test=.15, seed=0, stratify='lvef_le45'))
    test_ids = set(ft.patient_id[s == 'test'])
    pre = pretraining_cohort(pt, test_ids, seed=0)
    assert not pre.patient_id.isin(test_ids).any()
    assert (pre.index == np.arange(len(pre))).all()
    assert (pre.groupby('patient_id').split.nunique() == 1).all()

def test_stratified_split_balances_positives():
    df = pd.DataFrame({'patient_id': np.arange(1000).astype(str), 'y': (np.arange(1000) < 100).astype(float)})
    s = split_patients(df, {'train': .8, 'val': .2}, stratify='y', seed=4)
    assert df.y[s == 'val'].sum() == 20 and df.y[s == 'train'].sum() == 80

def test_cohort_report_counts():
    df = pd.DataFrame({'patient_id': ['a', 'a', 'b'], 'lvef_le45': [1., 0., np.nan]})
    rep = cohort_report(df, targets=['lvef_le45'])
    col = rep.columns.get_level_values(0)[0]
    assert col == 'all (3 studies, 2 patients)'
    assert rep[(col, 'positives')].iloc[0] == 1 and rep[(col, 'negatives')].iloc[0] == 1
    assert rep[(col, 'missing %')].iloc[0] == pytest.approx(33.3)
