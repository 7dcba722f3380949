"Shared fixtures and helpers."
import contextlib, io, json, os, sys
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

# ---- a real PACS: Orthanc with its DICOMweb plugin, on a free loopback port, for the session ----
ORTHANC_PLUGIN_DIRS = ('/usr/share/orthanc/plugins', '/usr/lib/orthanc', '/usr/local/share/orthanc/plugins')
PACS_USER, PACS_PASSWORD = 'xcardia', 'not-a-real-secret'

def _free_port()->int:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

class Orthanc:
    "A running Orthanc: `url` (DICOMweb root), `rest` (its REST API), `auth`, `upload(files)`, `stop()`, `start()`."
    def __init__(self, folder:Path):
        import shutil as sh
        exe = sh.which('Orthanc')
        plugin = next((Path(d)/'libOrthancDicomWeb.so' for d in ORTHANC_PLUGIN_DIRS if (Path(d)/'libOrthancDicomWeb.so').exists()), None)
        if exe is None or plugin is None:
            why = "Orthanc or its DICOMweb plugin is not installed (Debian: apt-get install orthanc orthanc-dicomweb)"
            if os.environ.get('XCARDIA_REQUIRE_PACS'): pytest.fail(why + '; XCARDIA_REQUIRE_PACS is set (CI)')
            pytest.skip(why)
        self.folder, self.exe, self.port = folder, exe, _free_port()
        self.rest, self.auth = f'http://127.0.0.1:{self.port}', (PACS_USER, PACS_PASSWORD)
        self.url = self.rest + '/dicom-web'
        cfg = dict(Name='xcardia-test', StorageDirectory=str(folder/'storage'), IndexDirectory=str(folder/'index'),
                   HttpPort=self.port, DicomServerEnabled=False, RemoteAccessAllowed=False, AuthenticationEnabled=True,
                   RegisteredUsers={PACS_USER: PACS_PASSWORD}, Plugins=[str(plugin)], HttpTimeout=60,
                   DicomWeb=dict(Enable=True, Root='/dicom-web/', EnableWado=True, StudiesMetadata='Full',
                                 SeriesMetadata='Full'))
        (folder/'orthanc.json').write_text(json.dumps(cfg))
        self.proc = None
        self.start()

    def start(self):
        import subprocess, time, requests
        self.log = open(self.folder/'orthanc.log', 'ab')
        self.proc = subprocess.Popen([self.exe, str(self.folder/'orthanc.json')], stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                if requests.get(self.rest + '/system', auth=self.auth, timeout=1).ok: return self
            except requests.ConnectionError: pass
            if self.proc.poll() is not None: break
            time.sleep(.1)
        raise RuntimeError(f"Orthanc did not start: {(self.folder/'orthanc.log').read_text()[-2000:]}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.log.close()

    def upload(self, files)->int:
        "POST each DICOM file to /instances; returns how many Orthanc stored."
        import requests
        n = 0
        for f in files:
            r = requests.post(self.rest + '/instances', data=Path(f).read_bytes(), auth=self.auth, timeout=60)
            n += r.ok
        return n

@pytest.fixture(scope='session')
def orthanc(tmp_path_factory):
    "A real Orthanc (DICOMweb on, authentication on) on a free loopback port with a temporary storage folder."
    pacs = Orthanc(tmp_path_factory.mktemp('orthanc'))
    yield pacs
    pacs.stop()
