"""The cohort-size study of issue #30 across sizes: pre-training minus no pre-training (mean test AUROC difference, CI over
patients and seeds) against the number of pre-training pairs, with and without augmentation; one table and one figure.

Usage (after `python tools/run_study.py examples/study_size.yaml --patients N --out ../study/sizeN --publish DEST/pN`
for each size):
    python benchmarks/size_study.py nbs/study_size ../study/size300 ../study/size800
writes DEST/size_study.csv, DEST/fig_size_study.png and DEST/fig_size_curves.png, and into each size's folder DEST/pN its
pairs count (pairs.json) and every pre-training run's per-epoch history (histories.csv).
"""
import argparse, json
from pathlib import Path
import pandas as pd
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt

# run in the report -> (method, augmentation: 'off', 'strong' (MMCL's strength, 30 % corruption) or 'mild' (no flips, 10 %))
METHODS = {'NW+MMCL': ('NW+MMCL', 'off'), 'MMCL': ('MMCL', 'off'), 'nw_aug': ('NW+MMCL', 'strong'), 'mmcl_aug': ('MMCL', 'strong'),
           'nw_aug_loss': ('NW+MMCL + augmentation, stopped on the loss', 'strong'), 'nw_mild': ('NW+MMCL', 'mild'), 'mmcl_mild': ('MMCL', 'mild')}
FOLDERS = {'NW+MMCL': 'nw_mmcl', 'MMCL': 'mmcl'}                   # the report names the variants; their folders are the variant names
COLORS = {'NW+MMCL': 'C0', 'MMCL': 'C1', METHODS['nw_aug_loss'][0]: 'C2'}
STYLE = {'off': ('-', 0.96), 'strong': ('--', 1.0), 'mild': (':', 1.04)}   # line style, and a nudge along x so the CIs do not overlap

def pairs(study:Path)->dict:
    "Pre-training pairs per split of a study's cohort (`cohort/pretrain.parquet`), and its patients."
    pre = pd.read_parquet(study/'cohort'/'pretrain.parquet')
    n = pre.split.value_counts().to_dict()
    return {'train': int(n.get('train', 0)), 'val': int(n.get('val', 0)), 'patients': int(json.loads((study/'data'/'done.json').read_text())['n_patients'])}

HISTORY = ['epoch', 'train_clip_loss', 'valid_clip_loss', 'valid_loss', 'train_retrieval_rank', 'valid_retrieval_rank']

def histories(study:Path)->pd.DataFrame:
    "Every pre-training run's history.csv (the columns of `HISTORY`), one frame with the run's name and method."
    parts = []
    for f in sorted((study/'pretrain').glob('*/history.csv')):
        h = pd.read_csv(f)[HISTORY]; run = f.parent.name
        parts.append(h.assign(run=run, method=run.split('_seed')[0]))
    return pd.concat(parts, ignore_index=True)

def size_table(dest:Path, studies:list)->pd.DataFrame:
    "One row per (size, regime, method): the comparison with no pre-training, from each size's published comparisons.csv."
    rows = []
    for study in studies:
        p = pairs(study); folder = dest/f"p{p['patients']}"
        (folder/'pairs.json').write_text(json.dumps(p, indent=1))
        histories(study).to_csv(folder/'histories.csv', index=False)
        comp = pd.read_csv(folder/'comparisons.csv')
        for m, (label, aug) in METHODS.items():
            for _, r in comp[comp.comparison == f"{m} − no pre-training"].iterrows():
                rows.append({'patients': p['patients'], 'pretrain_pairs': p['train'], 'regime': r.regime, 'method': label, 'augmentation': aug,
                             'run': m, 'difference': r['mean AUROC difference'], 'ci_low': r['CI low'], 'ci_high': r['CI high'],
                             'excludes_0': r['CI excludes 0'], 'seeds': r.seeds})
    return pd.DataFrame(rows)

def size_figure(t:pd.DataFrame, fname:Path):
    "Pre-training − none against pre-training pairs: one panel per regime; solid without augmentation, dashed strong, dotted mild."
    regimes = list(dict.fromkeys(t.regime))
    fig, axs = plt.subplots(1, len(regimes), figsize=(5.2 * len(regimes), 3.8), sharey=True, squeeze=False)
    ticks = t.drop_duplicates('pretrain_pairs').sort_values('pretrain_pairs')
    for ax, reg in zip(axs[0], regimes):
        for (label, aug), g in t[t.regime == reg].groupby(['method', 'augmentation'], sort=False):
            g = g.sort_values('pretrain_pairs'); ls, dx = STYLE[aug]
            ax.errorbar(g.pretrain_pairs * dx, g.difference, yerr=[g.difference - g.ci_low, g.ci_high - g.difference], capsize=3,
                        marker='o', ls=ls, color=COLORS[label],
                        label=label if aug == 'off' or 'augmentation' in label else f"{label} + {aug} augmentation")
        ax.axhline(0, color='k', lw=0.8); ax.set_xscale('log'); ax.minorticks_off()
        ax.set_xticks(ticks.pretrain_pairs, [f"{p}\n({n} patients)" for p, n in zip(ticks.pretrain_pairs, ticks.patients)])
        ax.set_xlabel('pre-training pairs (training split)'); ax.set_title(f'{reg}')
    axs[0][0].set_ylabel('test AUROC: pre-training − none\n(mean over seeds, 95 % CI)')
    h, l = axs[0][0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, .15, 1, 1)); fig.legend(h, l, loc='lower center', ncol=4, fontsize=8, frameon=False)
    fig.savefig(fname, dpi=120); plt.close(fig)
    return fname

def curves_figure(dest:Path, sizes:list, fname:Path):
    "Per size: training and validation retrieval rank per epoch (mean over seeds), without, with strong and with mild augmentation."
    fig, axs = plt.subplots(1, len(sizes), figsize=(5.2 * len(sizes), 3.6), sharey=True, squeeze=False)
    for ax, n in zip(axs[0], sizes):
        h = pd.read_csv(dest/f'p{n}'/'histories.csv')
        for run, (label, aug) in METHODS.items():
            m = FOLDERS.get(run, run)
            g = h[h.method == m].groupby('epoch')[['train_retrieval_rank', 'valid_retrieval_rank']].mean()
            if g.empty or run == 'nw_aug_loss': continue                # the stopping rule alone: the same curves as nw_aug
            ax.plot(g.index, g.valid_retrieval_rank, STYLE[aug][0], color=COLORS[label], label=f"{m} validation")
            ax.plot(g.index, g.train_retrieval_rank, STYLE[aug][0], color=COLORS[label], alpha=.35, label=f"{m} training")
        ax.axhline(.5, color='k', lw=.6, ls=':'); ax.set_title(f'{n} patients'); ax.set_xlabel('epoch')
    axs[0][0].set_ylabel('retrieval rank (0: own tables first, 0.5: chance)'); axs[0][-1].legend(fontsize=7, ncol=2)
    fig.tight_layout(); fig.savefig(fname, dpi=120); plt.close(fig)
    return fname

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('dest'); ap.add_argument('studies', nargs='+')
    a = ap.parse_args()
    dest = Path(a.dest); t = size_table(dest, [Path(s) for s in a.studies])
    t.to_csv(dest/'size_study.csv', index=False)
    size_figure(t, dest/'fig_size_study.png')
    curves_figure(dest, sorted(t.patients.unique()), dest/'fig_size_curves.png')
    print(t.round(3).to_string(index=False))

if __name__ == '__main__': main()
