"""The report in a real browser: tools/report_browser.py's layout check finds planted overflow, and passes a tidy report.

Skipped where Playwright or a Chromium is missing (the `report_browser` fixture, tests/conftest.py). The tiny demo's own
report is checked in tests/test_cli.py (it reuses that file's demo run)."""
import numpy as np
import pandas as pd
from xcardia.report import Report

def _figure(path):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(16, 4)); ax.plot([0, 1]); fig.savefig(path, dpi=100); plt.close(fig)   # 1600 px wide

def test_tidy_report_fits(tmp_path, report_browser):
    "Long unbroken paths in a paragraph and in the configuration block wrap, and a 1600-px figure is scaled into the column."
    _figure(tmp_path/'wide.png')
    path = '/data/' + 'very_long_hospital_folder_name_' * 12 + 'ct_studies.csv'
    r = (Report('tidy').p(f"written from `{path}`").code(f"ct: {path}").img('wide.png', 'a wide figure')
         .frame(pd.DataFrame(np.random.default_rng(0).random((3, 5)), columns=list('abcde'))))
    r.write(tmp_path)
    assert report_browser.layout_problems(tmp_path/'report.html') == []

def test_planted_overflow_and_missing_figure_are_found(tmp_path, report_browser):
    "A table too wide for the column and a figure that is not there are each named, at each window width."
    wide = pd.DataFrame(np.random.default_rng(0).random((2, 40)), columns=[f"column_{i}" for i in range(40)])
    Report('bad').p('fine').frame(wide).img('missing.png', 'not written').write(tmp_path)
    bad = report_browser.layout_problems(tmp_path/'report.html')
    for w in report_browser.WIDTHS:
        assert any(m.startswith(f"{w} px: table") and 'outside the column' in m for m in bad), bad
        assert any(m.startswith(f"{w} px: img missing.png") and 'did not load' in m for m in bad), bad
        assert any(m.startswith(f"{w} px: the page scrolls sideways") for m in bad), bad
    assert not any('"fine"' in m for m in bad), bad

def test_screenshot(tmp_path, report_browser):
    Report('shot').p('hello').write(tmp_path)
    png = report_browser.screenshot(tmp_path/'report.html', tmp_path/'shot.png', width=800, height=300)
    from PIL import Image
    assert Image.open(png).size == (800, 300)
