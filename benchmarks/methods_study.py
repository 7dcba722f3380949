"""The methods study of issue #42 across cohort sizes: each pre-training objective against no pre-training and against
NW+MMCL (mean paired test-AUROC difference over seeds, 95 % CI over test patients and seeds), the probes of the frozen
encoders, one table, one figure.

Usage (after `python tools/run_study.py examples/study_methods.yaml --patients N --out ../study/methodsN --publish DEST/pN`
for a size):
    python benchmarks/methods_study.py nbs/study_methods ../study/methods800
writes into the size's folder DEST/pN its pairs count (pairs.json) and every pre-training run's per-epoch history
(histories.csv), then DEST/comparisons.csv, DEST/probes.csv and DEST/fig_methods_study.png over every size published
in DEST (a size run in an earlier session keeps its published files).
"""
import argparse, json
from pathlib import Path
import numpy as np
import pandas as pd
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
from xcardia.report import method_label

METHODS = ['nw_mmcl', 'mmcl', 'supcon', 'supcon_nw', 'ctrip', 'teacher', 'teacher_nw']
COLUMNS = ['patients', 'regime', 'method', 'baseline', 'difference', 'ci_low', 'ci_high', 'excludes_0', 'seeds']

def pairs(study:Path)->dict:
    "Pre-training pairs per split (`cohort/pretrain.parquet`), ctrip's extra one-exam CTs, and the cohort's patients."
    pre = pd.read_parquet(study/'cohort'/'pretrain.parquet')
    n = pre.split.value_counts().to_dict()
    done = json.loads((study/'cohort'/'done.json').read_text())
    return {'train': int(n.get('train', 0)), 'val': int(n.get('val', 0)), 'one_exam': int(done.get('pretrain_one_exam', 0)),
            'patients': int(json.loads((study/'data'/'done.json').read_text())['n_patients'])}

def histories(study:Path)->pd.DataFrame:
    "Every pre-training run's history.csv, one long frame with the run's name and method."
    parts = [pd.read_csv(f).assign(run=f.parent.name, method=f.parent.name.split('_seed')[0])
             for f in sorted((study/'pretrain').glob('*/history.csv'))]
    return pd.concat(parts, ignore_index=True)

def comparisons(comp:pd.DataFrame, patients:int)->pd.DataFrame:
    "One size's report comparisons as rows (method, baseline): `X − no pre-training`, and `NW+MMCL − X` turned around."
    rows = []
    for m in METHODS:
        label = method_label(m)
        for _, r in comp[comp.comparison == f"{label} − no pre-training"].iterrows():
            rows.append(dict(patients=patients, regime=r.regime, method=label, baseline='none',
                             difference=r['mean AUROC difference'], ci_low=r['CI low'], ci_high=r['CI high'],
                             excludes_0=r['CI excludes 0'], seeds=r.seeds))
        if m == 'nw_mmcl': continue
        for _, r in comp[comp.comparison == f"NW+MMCL − {label}"].iterrows():
            rows.append(dict(patients=patients, regime=r.regime, method=label, baseline='NW+MMCL',
                             difference=-r['mean AUROC difference'], ci_low=-r['CI high'], ci_high=-r['CI low'],
                             excludes_0=r['CI excludes 0'], seeds=r.seeds))
    return pd.DataFrame(rows, columns=COLUMNS)

def study_tables(dest:Path, studies:list)->tuple:
    """comparisons.csv and probes.csv across every size published in `dest` (DEST/pN); the study folders given first
    add their pairs count and histories to their size's folder (a size published earlier keeps what it has)."""
    for study in studies:
        p = pairs(study)
        folder = dest/f"p{p['patients']}"
        (folder/'pairs.json').write_text(json.dumps(p, indent=1))
        histories(study).to_csv(folder/'histories.csv', index=False)
    comps, probes = [], []
    for folder in sorted((f for f in dest.glob('p[0-9]*') if f.is_dir()), key=lambda f: int(f.name[1:])):
        if not (folder/'pairs.json').exists(): continue
        n = json.loads((folder/'pairs.json').read_text())['patients']
        comps.append(comparisons(pd.read_csv(folder/'comparisons.csv'), n))
        probes.append(pd.read_csv(folder/'probes.csv').assign(patients=n))
    return pd.concat(comps, ignore_index=True), pd.concat(probes, ignore_index=True)

def study_figure(t:pd.DataFrame, fname:Path)->Path:
    "Each method minus no pre-training, per regime (panels) and size (colours), with its 95 % CI."
    t = t[t.baseline == 'none']
    regimes, sizes = list(dict.fromkeys(t.regime)), sorted(t.patients.unique())
    methods = list(dict.fromkeys(t.method))
    fig, axs = plt.subplots(1, len(regimes), figsize=(6 * len(regimes), 3.8), sharey=True, squeeze=False)
    for ax, reg in zip(axs[0], regimes):
        for j, n in enumerate(sizes):
            g = t[(t.regime == reg) & (t.patients == n)].set_index('method').reindex(methods)
            x = np.arange(len(methods)) + (j - (len(sizes) - 1) / 2) * .25
            ax.errorbar(x, g.difference, yerr=[g.difference - g.ci_low, g.ci_high - g.difference], fmt='o', capsize=3,
                        label=f'{n} patients')
        ax.axhline(0, color='k', lw=.8)
        ax.set_xticks(np.arange(len(methods)), methods, rotation=30, ha='right', fontsize=8)
        ax.set_title(reg)
    axs[0][0].set_ylabel('test AUROC: method − none\n(mean over seeds, 95 % CI)')
    axs[0][-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(fname, dpi=120)
    plt.close(fig)
    return fname

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('dest'); ap.add_argument('studies', nargs='*')
    a = ap.parse_args()
    dest = Path(a.dest)
    t, probes = study_tables(dest, [Path(s) for s in a.studies])
    t.to_csv(dest/'comparisons.csv', index=False)
    probes.to_csv(dest/'probes.csv', index=False)
    study_figure(t, dest/'fig_methods_study.png')
    print(t.round(3).to_string(index=False))

if __name__ == '__main__': main()
