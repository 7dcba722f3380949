"""Severity targets on the built-in cohort (#29): the `small` demo with seeds 0-2, NW+MMCL, MMCL and no pre-training,
full and 5-shot, one model per run carrying the ten binary heads and the demo's severity heads ('joint'); then the
no-pre-training runs again with the binary heads alone ('binary'), to see whether the severity heads cost the binary
screen anything, and with the severity heads alone ('severity_only', through the API), to see whether the binary heads
cost the estimates anything. Prints the figures quoted in nbs/06a_severity.ipynb and the README.

    python benchmarks/severity_study.py --out sev_study          # runs them all (about 35 min on 2 CPU cores), then prints
    python benchmarks/severity_study.py --out sev_study --print  # prints from finished runs
"""
import argparse, json
from pathlib import Path
import numpy as np, pandas as pd

def configs(out:Path):
    from xcardia.stages import demo_config
    base = demo_config(out/'joint', 'small', seeds=[0, 1, 2])
    joint = base.updated(pretrain={'variants': ['nw_mmcl', 'mmcl']}, finetune={'methods': ['nw_mmcl', 'mmcl', 'none']})
    binary = base.updated(out=str(out/'binary'), pretrain={'variants': []},
                          finetune={'methods': ['none'], 'targets': ['binary']}, evaluate={'bundle': 'none/full'})
    return joint, binary

def run(out:Path):
    from xcardia.stages import prepare_out, run_demo_data, DEMO_SIZES
    from xcardia.cli import run_all
    joint, binary = configs(out)
    prepare_out(joint); run_demo_data(joint, 'small')
    run_all(joint, DEMO_SIZES['small']['finetune']['fewshot_epochs'])
    prepare_out(binary)
    run_all(binary, DEMO_SIZES['small']['finetune']['fewshot_epochs'])

def severity_only(out:Path):
    "The no-pre-training fine-tunings again with the severity heads alone (no binary head; early stopping on the validation loss), through the API: `preds.npz` per seed under out/severity_only."
    import torch
    from xcardia.core import set_seed
    from xcardia.data import make_dls
    from xcardia.finetune import finetune_learner
    from xcardia.severity import SeveritySpec, severity_values
    from xcardia.stages import read_cohort_stage, dls_kwargs, fast_kwargs, predict_rows, _fit
    joint, _ = configs(out)
    f, sev = joint.finetune, joint.finetune.severity
    for r in joint.plan.seed_runs('none', 'full'):
        folder = out/'severity_only'/f'seed{r.seed}'
        if (folder/'preds.npz').exists(): continue
        folder.mkdir(parents=True, exist_ok=True); set_seed(r.seed)
        lab = read_cohort_stage(joint, 'labelled'); lab = pd.concat([lab, severity_values(lab, sev)], axis=1)
        co = lab[lab.split.isin(['train', 'val', 'test'])].reset_index(drop=True)
        spec = SeveritySpec.fit(lab.loc[lab.split == 'train', [m.column for m in sev]], sev)
        dls = make_dls(co, kind='image', targets=spec.columns, **dls_kwargs(joint, 'finetune'))
        learn = finetune_learner(dls, None, freeze=r.freeze, n_targets=0, severity=spec, lr=f.lr, patience=f.patience, path=folder, **fast_kwargs(joint))
        _fit(learn, folder, f.epochs or learn.spec.preset.epochs)
        test = np.flatnonzero((co.split == 'test').to_numpy())
        np.savez(folder/'preds.npz', test_sev=predict_rows(learn.model, dls, co, test, targets=(), raw=True),
                 test_sev_y=co[spec.columns].to_numpy(float)[test], test_pids=co.patient_id.to_numpy(str)[test], severity=json.dumps(spec.to_dict()))

def mae_differences(A:list, B:list, W:np.ndarray)->dict:
    "Per continuous measure: MAE(A) - MAE(B) on the same test studies, averaged over the seeds (A[i] and B[i] are one seed's preds.npz), with the patient-bootstrap 95 % CI of `W`'s resamples: (difference, lo, hi, MAE of A)."
    from xcardia.severity import SeveritySpec
    spec, out = SeveritySpec.from_dict(json.loads(str(B[0]['severity']))), {}
    for c, m in enumerate(spec.continuous):
        y = B[0]['test_sev_y'][:, c]; ok = ~np.isnan(y)
        err = lambda p: np.abs(p['test_sev'][ok, c] - y[ok])
        d = np.mean([err(a) - err(b) for a, b in zip(A, B)], 0)
        boot = W[:, ok] @ d / W[:, ok].sum(1)
        out[m.name] = (d.mean(), np.percentile(boot, 2.5), np.percentile(boot, 97.5), np.mean([err(a).mean() for a in A]))
    return out

def report(out:Path, n_boot:int=1000):
    from xcardia.evaluate import derived_scores, derived_vs_binary, compare_seeds
    from xcardia.report import severity_metrics, method_label
    from xcardia.severity import SeveritySpec
    joint, binary = configs(out)
    preds = lambda cfg, r: dict(np.load(r.folder/'preds.npz'))   # r.folder lies under cfg.out
    pd.set_option('display.width', 200)
    rows, dvb = [], []
    for regime in joint.finetune.regimes:
        for m in joint.finetune.methods:
            for r in joint.plan.seed_runs(m, regime):
                p = preds(joint, r); met = severity_metrics(p, n_boot, 0)
                for name, row in met.iterrows():
                    rows.append(dict(regime=regime, method=method_label(m), seed=r.seed, target=name, kind=row.kind,
                                     value=row.mae if row.kind == 'continuous' else row.kappa,
                                     ci=f"{row.mae:.3g} [{row.mae_lo:.3g}, {row.mae_hi:.3g}]" if row.kind == 'continuous' else f"{row.kappa:.2f} [{row.kappa_lo:.2f}, {row.kappa_hi:.2f}]",
                                     r=row.get('pearson', np.nan)))
                d = derived_vs_binary(derived_scores(SeveritySpec.from_dict(json.loads(str(p['severity']))), p['test_sev']),
                                      p['test_probs'], p['test_y'], p['test_pids'], n_boot, 0)
                dvb.append(d.assign(regime=regime, method=method_label(m), seed=r.seed))
    df = pd.DataFrame(rows)
    print("\n## MAE (continuous, in the measure's unit) / quadratic-weighted kappa (grades) on the test split, per seed with its patient-bootstrap 95 % CI")
    print(df[df.method == 'NW+MMCL'].pivot_table(index=['regime', 'target'], columns='seed', values='ci', aggfunc='first').to_string())
    print("\n## Mean ± SD over seeds, per method (MAE for measurements, kappa for grades; Pearson r in brackets)")
    agg = df.groupby(['regime', 'target', 'method']).agg(mean=('value', 'mean'), sd=('value', 'std'), r=('r', 'mean'))
    agg['cell'] = [f"{a:.3g} ± {b:.2g}" + ('' if np.isnan(c) else f" (r {c:.2f})") for a, b, c in zip(agg['mean'], agg['sd'], agg['r'])]
    print(agg['cell'].unstack('method').to_string())
    d = pd.concat(dvb).rename_axis('target').reset_index()
    print("\n## Regressed value as a score at the clinical threshold vs the direct binary head: test AUROC, mean over seeds, and each seed's paired difference [95 % CI]")
    d['diff'] = [f"{a:+.3f} [{lo:+.3f}, {hi:+.3f}]" for a, lo, hi in zip(d.auroc_diff.astype(float), d.lo.astype(float), d.hi.astype(float))]
    print(d.groupby(['regime', 'method', 'target'])[['auroc_binary', 'auroc_derived']].mean().round(3).to_string())
    print(d[(d.method == 'NW+MMCL')].pivot_table(index=['regime', 'target'], columns='seed', values='diff', aggfunc='first').to_string())
    print("\n## MAE difference between methods, paired on the test patients and averaged over the seeds [95 % CI] (negative: the first is closer)")
    from xcardia.evaluate import bootstrap_counts
    for regime in joint.finetune.regimes:
        for a_, b_ in (('nw_mmcl', 'none'), ('mmcl', 'none'), ('nw_mmcl', 'mmcl')):
            A, B = [preds(joint, r) for r in joint.plan.seed_runs(a_, regime)], [preds(joint, r) for r in joint.plan.seed_runs(b_, regime)]
            cells = [f"{k} {d:+.3g} [{lo:+.3g}, {hi:+.3g}]" for k, (d, lo, hi, _) in mae_differences(A, B, bootstrap_counts(A[0]['test_pids'], n_boot, 0)).items()]
            print(f"{regime} {method_label(a_)} - {method_label(b_)}: " + '; '.join(cells))
    if (out/'severity_only').exists():
        print("\n## Severity heads alone against the joint model (no pre-training, all labels): MAE alone - joint, paired on the test patients, seeds averaged [95 % CI]")
        from xcardia.evaluate import bootstrap_counts
        A = [dict(np.load(out/'severity_only'/f'seed{r.seed}'/'preds.npz')) for r in joint.plan.seed_runs('none', 'full')]
        B = [preds(joint, r) for r in joint.plan.seed_runs('none', 'full')]
        assert all(np.array_equal(a['test_pids'], b['test_pids']) for a, b in zip(A, B)), 'the test studies differ'
        cells = [f"{k}: alone {mae:.3g}, difference {d:+.3g} [{lo:+.3g}, {hi:+.3g}]"
                 for k, (d, lo, hi, mae) in mae_differences(A, B, bootstrap_counts(B[0]['test_pids'], n_boot, 0)).items()]
        print('; '.join(cells))
    print("\n## Does carrying the severity heads change the binary screen? No pre-training, mean test AUROC over the ten targets")
    for regime in joint.finetune.regimes:
        a = [preds(joint, r) for r in joint.plan.seed_runs('none', regime)]
        b = [preds(binary, r) for r in binary.plan.seed_runs('none', regime)]
        c = compare_seeds([p['test_probs'] for p in a], [p['test_probs'] for p in b], a[0]['test_y'], a[0]['test_pids'], n_boot, 0)
        m = c.loc['mean']
        print(f"{regime}: joint - binary only {m.auroc_diff:+.3f} [{m.lo:+.3f}, {m.hi:+.3f}] (seed SD {m.seed_sd:.3f}; 3 seeds, two-level bootstrap)")

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='sev_study'); ap.add_argument('--print', action='store_true', help='only print from finished runs')
    ap.add_argument('--n-boot', type=int, default=1000)
    a = ap.parse_args(); out = Path(a.out).resolve()
    if not a.print: run(out); severity_only(out)
    report(out, a.n_boot)
