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
