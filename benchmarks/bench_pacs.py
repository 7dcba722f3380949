"""`xcardia index URL` and `xcardia predict --sr --store` against a real Orthanc on loopback: QIDO + metadata selection
(studies/s), WADO-RS fetch of the chosen series (MB/s, series/s), SR writing and STOW-RS (studies/s), and the fetch of
16,000 studies extrapolated. Usage: python benchmarks/bench_pacs.py [--patients 30] [--workers 4] [--out DIR]

Needs Debian's `orthanc` and `orthanc-dicomweb` (the test fixture's `Orthanc` starts it on a free loopback port with a
temporary storage folder). The archive is the built-in cohort's PACS export (`make_cohort(archive=True)`: scouts, soft
and lung kernels, thick, contrast and secondary-capture series; a quarter RLE / JPEG 2000), uploaded once; its series are
smaller than a hospital's (about 50 slices of 64^2 instead of 300 of 512^2), so the extrapolation goes by MB too."""
import argparse, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]/'tests'))
from common import show

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--patients', type=int, default=30)
    ap.add_argument('--workers', type=int, default=4, help='studies read and series fetched at once')
    ap.add_argument('--out', default=None)
    a = ap.parse_args()
    from conftest import Orthanc, PACS_USER, PACS_PASSWORD
    from xcardia.synthetic import make_cohort
    from xcardia.core import TARGET_NAMES
    from xcardia.pacs import index_dicomweb, pacs_session, DicomWeb, ReportModel, write_srs
    root = Path(a.out or tempfile.mkdtemp())
    exp = make_cohort(root/'cohort', n_patients=a.patients, seed=0, archive=True)
    files = [f for f in Path(exp['archive']).rglob('*') if f.is_file()]
    (root/'orthanc').mkdir(parents=True, exist_ok=True)
    try: pacs = Orthanc(root/'orthanc')
    except BaseException as e:   # the fixture's skip where Orthanc is missing
        sys.exit(f"bench_pacs needs Orthanc with its DICOMweb plugin: {e}")
    try:
        t = time.perf_counter(); stored = pacs.upload(files); up = time.perf_counter() - t
        session = lambda: pacs_session(env={'XCARDIA_PACS_USER': PACS_USER, 'XCARDIA_PACS_PASSWORD': PACS_PASSWORD})
        kw = dict(rule={'max_thickness': 7.}, id_map=exp['id_map'], study_id='accession', progress=False, workers=a.workers)
        res = index_dicomweb(pacs.url, root/'web'/'ct.csv', session=session(), **kw)
        studies, chosen = res['studies'], len(res['ct'])
        mb = sum(f.stat().st_size for f in (root/'web'/'dicom').rglob('*.dcm')) / 1e6
        rows = [dict(what=f"QIDO-RS + WADO-RS metadata, rules applied ({a.workers} at once)", studies=studies,
                     instances=int(res['series'].instances.sum()), seconds=res['select_seconds'],
                     studies_per_s=studies / res['select_seconds']),
                dict(what=f"WADO-RS fetch of the chosen series ({a.workers} at once)", studies=chosen, MB=mb,
                     seconds=res['fetch_seconds'], series_per_s=chosen / res['fetch_seconds'],
                     MB_per_s=mb / res['fetch_seconds'])]
        again = index_dicomweb(pacs.url, root/'web'/'ct.csv', session=session(), **kw)
        rows.append(dict(what='rerun: selection again, nothing fetched', studies=studies, seconds=again['seconds'],
                         studies_per_s=studies / again['seconds']))
        model = ReportModel('0123456789abcdef', list(TARGET_NAMES), [.5] * len(TARGET_NAMES),
                            units={'lvef_pct': '%', 'lvwt_mm': 'mm', 'pasp_mmhg': 'mmHg', 'tr_vmax_m_s': 'm/s'})
        rng = np.random.default_rng(0)
        pred = res['ct'].assign(**{t: rng.random(chosen) for t in TARGET_NAMES}, lvef_pct=55., lvwt_mm=11., pasp_mmhg=30.,
                                tr_vmax_m_s=2.5, error='')
        t = time.perf_counter(); lst = write_srs(model, pred, root/'sr', progress=False); w = time.perf_counter() - t
        rows.append(dict(what='SR written (headers of the series read, TID 1500 built, saved)', studies=chosen, seconds=w,
                         studies_per_s=chosen / w, kB_per_SR=np.mean([(root/'sr'/f).stat().st_size for f in lst.file]) / 1e3))
        t = time.perf_counter(); lst = write_srs(model, pred, root/'sr', DicomWeb(pacs.url, session()), progress=False)
        s = time.perf_counter() - t
        assert (lst.status == 'stored').all(), lst.reason.unique()
        rows.append(dict(what='SR stored with STOW-RS (already written)', studies=chosen, seconds=s, studies_per_s=chosen / s))
        real = _real_size_fetch(pacs, session, root)
        if real: rows.append(real)
        show(f"PACS round trip on loopback Orthanc: {len(files)} files uploaded ({stored} stored, {up:.0f} s), "
             f"{studies} CT studies", rows)
        print(f"\nExtrapolated to 16,000 studies ({a.workers} at once, loopback): selection "
              f"{16000 / rows[0]['studies_per_s'] / 60:.0f} min; fetch {16000 / rows[1]['series_per_s'] / 60:.0f} min at "
              f"these series' size ({mb / chosen:.1f} MB)" + (f", {16000 * 300 / real['instances_per_s'] / 3600:.1f} h for "
              f"series of 300 real 512^2 slices at the {real['instances_per_s']:.0f} instances/s measured on A0002 (one "
              "series at a time)"
              if real else '') + f"; SR writing {16000 / rows[3]['studies_per_s'] / 60:.0f} min at these series' instance "
              "counts. A real PACS adds network and storage latency.")
    finally:
        pacs.stop()
        if not a.out: shutil.rmtree(root, ignore_errors=True)

def _real_size_fetch(pacs, session, root:Path, repeat:int=3)->dict|None:
    "WADO-RS fetch of a real 512^2 series (TCIA A0002's chosen B40f series, from ../shared/data): best of `repeat`."
    from xcardia.core import shared_data_dir
    from xcardia.pacs import index_dicomweb
    d = shared_data_dir()
    folders = [d/'ct'/f'tcia_lung_dx_A0002_{s}_dicom' for s in ('B70f', 'thorax')] if d else []
    if not all(f.is_dir() for f in folders): return None
    pacs.upload([f for p in folders for f in sorted(p.iterdir()) if f.suffix == '.dcm'])
    import pydicom
    study = pydicom.dcmread(next(folders[0].glob('*.dcm')), stop_before_pixels=True).StudyInstanceUID
    best = None
    for k in range(repeat):
        shutil.rmtree(root/'a0002', ignore_errors=True)
        r = index_dicomweb(pacs.url, root/'a0002'/'ct.csv', session=session(), rule={'max_thickness': 10.}, studies=[study],
                           progress=False)
        best = r if best is None or r['fetch_seconds'] < best['fetch_seconds'] else best
    files = list((root/'a0002'/'dicom').rglob('*.dcm'))
    mb, n, s = sum(f.stat().st_size for f in files) / 1e6, len(files), best['fetch_seconds']
    return dict(what=f"WADO-RS fetch of a real series (TCIA A0002, {n} slices of 512^2, best of {repeat})", studies=1, MB=mb,
                seconds=s, series_per_s=1 / s, MB_per_s=mb / s, instances_per_s=n / s)

if __name__ == '__main__': main()
