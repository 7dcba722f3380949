"""`xcardia index` on a synthetic PACS export: header files/s on one process and on all cores, and chosen series read and
cached per second. Usage: python benchmarks/bench_index.py [--patients 80] [--cache 24] [--out DIR]

The export is the built-in cohort's (`make_cohort(archive=True)`): about 130 files per study (scout, soft and lung kernels,
some thick, contrast and secondary-capture series, RLE / JPEG 2000 for a quarter of the studies). Each index starts
from an empty header cache; the incremental rerun (nothing changed) is timed too."""
import argparse, os, shutil, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from common import show
from xcardia.synthetic import make_cohort
from xcardia.dicom import index_dicom
from xcardia.data import CTCache
from xcardia.core import get_preset

def main():
    "Worker processes start with `spawn`: everything runs under the main guard."
    ap = argparse.ArgumentParser()
    ap.add_argument('--patients', type=int, default=80)
    ap.add_argument('--cache', type=int, default=24, help='chosen series to read and cache')
    ap.add_argument('--out', default=None)
    a = ap.parse_args()
    root = Path(a.out or tempfile.mkdtemp())
    t = time.perf_counter(); exp = make_cohort(root/'cohort', n_patients=a.patients, seed=0, archive=True)
    write_s = time.perf_counter() - t
    n_files = sum(1 for _ in Path(exp['archive']).rglob('*') if _.is_file())
    rows, cores = [], os.cpu_count() or 1
    kw = dict(rule={'max_thickness': 7.}, id_map=exp['id_map'], study_id='accession', progress=False)
    for workers in sorted({1, cores}):
        out = root/f'index{workers}'/'ct.csv'
        res = index_dicom(exp['archive'], out, n_workers=workers, **kw)
        rows.append(dict(what=f'index, {workers} process(es), headers from scratch', files=n_files, seconds=res['seconds'],
                         files_per_s=n_files / res['seconds'], per_process=n_files / res['seconds'] / workers))
    again = index_dicom(exp['archive'], out, n_workers=cores, **kw)
    rows.append(dict(what='index rerun, nothing changed (stat only)', files=n_files, seconds=again['seconds'], files_per_s=n_files / again['seconds']))
    p = get_preset('small'); cache = CTCache(root/'cache', spacing=p.spacing, size=p.size)
    paths = list(res['ct'].image_path[:a.cache])
    t = time.perf_counter(); cache.build(paths); dt = time.perf_counter() - t
    rows.append(dict(what=f"chosen series read + preprocessed + cached (small preset, {p.size}^3, 1 process)", files=int(res['ct'].instances[:a.cache].sum()),
                     seconds=dt, series_per_s=len(paths) / dt))
    show(f"`xcardia index`: {n_files} files, {len(res['series'])} series, {len(res['ct'])} studies (export written in {write_s:.0f} s)", rows)
    per_core = rows[0]['files_per_s']
    print(f"\nAt {per_core:.0f} files/s per process, an archive of the paper's size (~16,000 studies x ~300 slices, ~5 million files) "
          f"takes about {5e6 / (16 * per_core) / 60:.0f} min on 16 cores (headers only; file-system latency not included).")
    if not a.out: shutil.rmtree(root, ignore_errors=True)

if __name__ == '__main__': main()
