"Shared fixtures."
import sys
from pathlib import Path
import pytest

@pytest.fixture(scope='session')
def report_browser():
    "tools/report_browser.py, or a skip where Playwright or a Chromium is missing (`.ci/run` installs Debian's chromium where it can)."
    pytest.importorskip('playwright.sync_api')
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'tools'))
    import report_browser as rb
    if rb.find_browser() is None: pytest.skip('no Chromium installed (Debian: apt-get install chromium)')
    return rb

@pytest.fixture(scope='session')
def tiny_demo(tmp_path_factory):
    "One `xcardia demo --size tiny` for every test that reads a finished run (its stderr in `stderr.txt` beside it): the CLI's, the screening's."
    import subprocess
    out = tmp_path_factory.mktemp('demo')/'run'
    exe = Path(sys.executable).parent/'xcardia'
    cmd = [str(exe)] if exe.exists() else [sys.executable, '-m', 'xcardia.cli']
    r = subprocess.run(cmd + ['demo', '--out', str(out), '--size', 'tiny'], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    (out.parent/'stderr.txt').write_text(r.stderr)
    return out
