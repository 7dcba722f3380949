"Shared fixtures and helpers."
import contextlib, io, os, sys
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

def console_command()->list:
    "The installed `xcardia` console script (next to this Python), or the module where it is not installed."
    exe = Path(sys.executable).parent/'xcardia'
    return [str(exe)] if exe.exists() else [sys.executable, '-m', 'xcardia.cli']

@pytest.fixture(scope='session')
def tiny_demo(tmp_path_factory):
    "One `xcardia demo --size tiny` for every test that reads a finished run (its stderr in `stderr.txt` beside it): the CLI's, the screening's."
    import subprocess
    out = tmp_path_factory.mktemp('demo')/'run'
    r = subprocess.run(console_command() + ['demo', '--out', str(out), '--size', 'tiny'], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    (out.parent/'stderr.txt').write_text(r.stderr)
    return out

def cli_here(*args, cwd=None)->tuple:
    """The `xcardia` command run in this process (`xcardia.cli.main`, what the console script calls), returning (exit code,
    stdout, stderr): the same code path without a new interpreter's 6 s of imports per call. Tests of what needs a process of
    its own (a kill, torchrun, the console script itself) start one."""
    from xcardia.cli import main
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        if cwd is not None: os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try: code = main([str(a) for a in args])
            except SystemExit as e: code = e.code                      # argparse's usage errors
    finally: os.chdir(here)
    return code, out.getvalue(), err.getvalue()
