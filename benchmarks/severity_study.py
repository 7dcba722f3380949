"""Severity targets on the built-in cohort (#29): the `small` demo with seeds 0-2, NW+MMCL, MMCL and no pre-training,
full and 5-shot, one model per run carrying the ten binary heads and the demo's severity heads ('joint'); then the
no-pre-training runs again with the binary heads alone ('binary'), to see whether the severity heads cost the binary
screen anything. Prints the figures quoted in nbs/06a_severity.ipynb and the README.

    python benchmarks/severity_study.py --out sev_study          # runs both (about 1 h on 2 CPU cores), then prints
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

def report(out:Path, n_boot:int=1000):
    from xcardia.evaluate import derived_scores, derived_vs_binary, compare_seeds
    from xcardia.report import severity_metrics, method_label
    from xcardia.severity import SeveritySpec
    joint, binary = configs(out)
    preds = lambda cfg, r: dict(np.load(r.folder/'preds.npz'))
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
            spec = SeveritySpec.from_dict(json.loads(str(A[0]['severity'])))
            W = bootstrap_counts(A[0]['test_pids'], n_boot, 0); cells = []
            for c, m in enumerate(spec.continuous):
                y = A[0]['test_sev_y'][:, c]; ok = ~np.isnan(y)
                d = np.mean([np.abs(pa['test_sev'][ok, c] - y[ok]) - np.abs(pb['test_sev'][ok, c] - y[ok]) for pa, pb in zip(A, B)], 0)
                boot = W[:, ok] @ d / W[:, ok].sum(1)
                cells.append(f"{m.name} {d.mean():+.3g} [{np.percentile(boot, 2.5):+.3g}, {np.percentile(boot, 97.5):+.3g}]")
            print(f"{regime} {method_label(a_)} - {method_label(b_)}: " + '; '.join(cells))
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
    if not a.print: run(out)
    report(out, a.n_boot)
