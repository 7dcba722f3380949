"The project's own promises: declared requirements, docs sidebar, README in sync."
import ast, configparser, re, subprocess, sys
from importlib.metadata import packages_distributions
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CFG = configparser.ConfigParser(); CFG.read(ROOT/'settings.ini')

def _names(key):
    return {re.split(r'[<>=!~\[ ;]', r, maxsplit=1)[0].lower().replace('_', '-') for r in CFG['DEFAULT'][key].split()}

def imported_modules(path):
    mods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import): mods |= {a.name.split('.')[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module: mods.add(node.module.split('.')[0])
    return mods

def test_every_imported_package_is_declared():
    "Every third-party module the library imports belongs to a distribution listed in settings.ini's requirements."
    declared, dists = _names('requirements'), packages_distributions()
    missing = []
    for f in sorted((ROOT/'xcardia').glob('*.py')):
        for m in imported_modules(f):
            if m == 'xcardia' or m in sys.stdlib_module_names or m == '__future__': continue
            names = {d.lower().replace('_', '-') for d in dists.get(m, [m])}
            if not names & declared: missing.append(f"{f.name}: {m} (distribution {sorted(names)})")
    assert not missing, f"imported but not in settings.ini requirements: {missing}"

def test_upper_bounds_are_explained():
    "Each requirement with an upper bound has a comment in settings.ini saying why."
    text = (ROOT/'settings.ini').read_text()
    comments = '\n'.join(l for l in text.splitlines() if l.lstrip().startswith('#'))
    for key in ('requirements', 'dev_requirements'):
        for r in CFG['DEFAULT'][key].split():
            if '<' in r:
                name = re.split(r'[<>=!~\[]', r, maxsplit=1)[0]
                assert re.search(rf'#\s+{re.escape(name)}\s+<', comments), f"no comment explains the upper bound of {r}"

def test_sidebar_lists_every_notebook():
    side = (ROOT/'nbs'/'sidebar.yml').read_text()
    listed = re.findall(r'-\s+(\S+\.ipynb)', side)
    nbs = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb'))
    assert sorted(listed) == nbs, f"sidebar.yml lists {listed}, nbs/ holds {nbs}"
    assert listed[0] == 'index.ipynb'

def test_readme_in_sync_with_index():
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'make_readme.py'), '--check'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT/'README.md').read_text()
    cmd = [l for l in readme.splitlines() if l.startswith('python3 -m venv .venv &&') and 'nbdev_test' in l]
    assert len(cmd) == 1 and cmd[0].endswith('pytest tests')
    assert 'nbdev_test' in (ROOT/'.ci'/'run').read_text()
