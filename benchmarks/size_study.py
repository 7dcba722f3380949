"""The cohort-size study of issue #30 across sizes: pre-training minus no pre-training (mean test AUROC difference, CI over
patients and seeds) against the number of pre-training pairs, with and without augmentation; one table and one figure.

Usage (after `python tools/run_study.py examples/study_size.yaml --patients N --out ../study/sizeN --publish DEST/pN`
for each size):
    python benchmarks/size_study.py nbs/study_size ../study/size300 ../study/size800
writes DEST/size_study.csv and DEST/fig_size_study.png (and each size's pairs count in DEST/pN/pairs.json).
"""
import argparse, json, sys
from pathlib import Path
import pandas as pd
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt

METHODS = {'NW+MMCL': ('NW+MMCL', False), 'MMCL': ('MMCL', False), 'nw_aug': ('NW+MMCL', True), 'mmcl_aug': ('MMCL', True),
           'nw_aug_loss': ('NW+MMCL, loss-stopped', True)}

def pairs(study:Path)->dict:
    "Pre-training pairs per split of a study's cohort (`cohort/pretrain.parquet`), and its patients."
    pre = pd.read_parquet(study/'cohort'/'pretrain.parquet')
    n = pre.split.value_counts().to_dict()
    return {'train': int(n.get('train', 0)), 'val': int(n.get('val', 0)), 'patients': int(json.loads((study/'data'/'done.json').read_text())['n_patients'])}

def size_table(dest:Path, studies:list)->pd.DataFrame:
    "One row per (size, regime, method): the comparison with no pre-training, from each size's published comparisons.csv."
    rows = []
    for study in studies:
        p = pairs(study); folder = dest/f"p{p['patients']}"
        (folder/'pairs.json').write_text(json.dumps(p, indent=1))
        comp = pd.read_csv(folder/'comparisons.csv')
        for m, (label, aug) in METHODS.items():
            for _, r in comp[comp.comparison == f"{m} − no pre-training"].iterrows():
                rows.append({'patients': p['patients'], 'pretrain_pairs': p['train'], 'regime': r.regime, 'method': label, 'augmented': aug,
                             'run': m, 'difference': r['mean AUROC difference'], 'ci_low': r['CI low'], 'ci_high': r['CI high'],
                             'excludes_0': r['CI excludes 0'], 'seeds': r.seeds})
    return pd.DataFrame(rows)

def size_figure(t:pd.DataFrame, fname:Path):
    "Pre-training − none against pre-training pairs: one panel per regime, solid without augmentation, dashed with."
    regimes = list(dict.fromkeys(t.regime))
    fig, axs = plt.subplots(1, len(regimes), figsize=(5.2 * len(regimes), 3.8), sharey=True, squeeze=False)
    colors = {'NW+MMCL': 'C0', 'MMCL': 'C1', 'NW+MMCL, loss-stopped': 'C2'}
    for ax, reg in zip(axs[0], regimes):
        for (label, aug), g in t[t.regime == reg].groupby(['method', 'augmented']):
            g = g.sort_values('pretrain_pairs'); dx = (1.03 if aug else 0.97)
            ax.errorbar(g.pretrain_pairs * dx, g.difference, yerr=[g.difference - g.ci_low, g.ci_high - g.difference], capsize=3,
                        marker='o', ls='--' if aug else '-', color=colors[label], label=f"{label}{' + augmentation' if aug and 'loss' not in label else ''}")
        ax.axhline(0, color='k', lw=0.8); ax.set_xscale('log')
        ax.set_xlabel('pre-training pairs (training split)'); ax.set_title(f'{reg}')
    axs[0][0].set_ylabel('test AUROC: pre-training − none\n(mean over seeds, 95 % CI)')
    axs[0][-1].legend(fontsize=8, loc='best')
    fig.tight_layout(); fig.savefig(fname, dpi=120); plt.close(fig)
    return fname

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('dest'); ap.add_argument('studies', nargs='+')
    a = ap.parse_args()
    dest = Path(a.dest); t = size_table(dest, [Path(s) for s in a.studies])
    t.to_csv(dest/'size_study.csv', index=False)
    size_figure(t, dest/'fig_size_study.png')
    print(t.round(3).to_string(index=False))

if __name__ == '__main__': main()
