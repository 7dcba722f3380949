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

# The data's one way through the package (DESIGN's data flow): a module may import only from modules ranked below it.
LAYERS = ('core', 'settings', 'matching', 'dicom', 'synthetic', 'data', 'encoders', 'nw', 'distributed', 'losses', 'severity', 'train', 'augment', 'bank', 'pretrain', 'teacher', 'finetune', 'evaluate', 'probes',
          'predict', 'share', 'pacs', 'config', 'stages', 'report', 'validate', 'cli')

def package_imports(path:Path)->set:
    "The xcardia modules a file imports, at any depth (functions included), relative or absolute."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('xcardia.')}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level == 1 and mod: out.add(mod.split('.')[0])
            elif node.level == 1: out |= {a.name for a in node.names}          # from . import data
            elif mod.startswith('xcardia.'): out.add(mod.split('.')[1])
            elif mod == 'xcardia': out |= {a.name for a in node.names}
    return out

def back_edges(pkg:Path)->list:
    "Imports of a module ranked at or above the importing one, as 'importer -> imported'."
    rank = {m: i for i, m in enumerate(LAYERS)}
    bad = []
    for f in sorted(pkg.glob('*.py')):
        if f.stem not in rank: continue
        bad += [f"{f.stem} -> {m}" for m in sorted(package_imports(f)) if m in rank and rank[m] >= rank[f.stem]]
    return bad

def test_every_module_has_a_layer():
    mods = {f.stem for f in (ROOT/'xcardia').glob('*.py') if not f.stem.startswith('_')}
    assert mods == set(LAYERS), f"modules without a rank: {sorted(mods - set(LAYERS))}; ranks without a module: {sorted(set(LAYERS) - mods)}"

def test_imports_flow_down_the_layers():
    assert back_edges(ROOT/'xcardia') == []

# Below in the layers, but not to be imported: evaluating or screening a hospital's data must not depend on the code that
# draws phantoms (the report reads the synthetic cohort's truth as data: the CT table's `heart_path`).
FORBIDDEN = {('report', 'synthetic'), ('evaluate', 'synthetic'), ('predict', 'synthetic'), ('data', 'synthetic')}

def forbidden_edges(pkg:Path)->list:
    return [f"{a} -> {b}" for a, b in sorted(FORBIDDEN) if (pkg/f'{a}.py').exists() and b in package_imports(pkg/f'{a}.py')]

def test_no_forbidden_imports(tmp_path):
    assert forbidden_edges(ROOT/'xcardia') == []
    pkg = tmp_path/'xcardia'; pkg.mkdir()
    for f in (ROOT/'xcardia').glob('*.py'): (pkg/f.name).write_text(f.read_text())
    (pkg/'report.py').write_text((pkg/'report.py').read_text() + "\ndef _planted():\n    from .synthetic import heart_mask\n")
    assert forbidden_edges(pkg) == ['report -> synthetic']

def test_layering_test_catches_a_back_edge(tmp_path):
    "A planted import of a higher module, inside a function (as lazy imports are), in a copy of the package."
    pkg = tmp_path/'xcardia'; pkg.mkdir()
    for f in (ROOT/'xcardia').glob('*.py'): (pkg/f.name).write_text(f.read_text())
    (pkg/'data.py').write_text((pkg/'data.py').read_text() + "\ndef _planted():\n    from xcardia.pretrain import VARIANTS\n    return VARIANTS\n")
    (pkg/'nw.py').write_text((pkg/'nw.py').read_text() + "\nfrom .losses import nw_loss\n")
    assert back_edges(pkg) == ['data -> pretrain', 'nw -> losses']


def docs_executed_mixed_cells(nb_path:Path)->list:
    """Cells that `nbdev_proc_nbs` (the docs pipeline) would execute because they import something, although they also
    hold other code: nbdev runs every cell containing an import (anywhere, even inside a `def`) to render `show_doc`, so
    such a cell runs without the cells before it and fails on the first name they defined (CI's stop 32)."""
    import json
    nb = json.loads(nb_path.read_text())
    bad = []
    for i, cell in enumerate(nb['cells']):
        src = ''.join(cell['source'])
        if cell['cell_type'] != 'code' or 'nbdev_export()' in src: continue
        directives = set(re.findall(r'^#\|\s*(\w+)', src, re.M))
        if directives & {'export', 'exports', 'exporti', 'exec_doc'} or re.search(r'^#\|\s*eval:\s*false', src, re.M | re.I): continue
        tree = ast.parse('\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!'))))
        has = lambda types: any(isinstance(n, types) for n in ast.walk(tree))
        if has((ast.Import, ast.ImportFrom)) and has((ast.Expr, ast.Assign)): bad.append(i)
    return bad


def test_no_notebook_cell_mixes_imports_with_code():
    "Imports live in a notebook's import cells; a cell that mixes them with code breaks `nbdev_proc_nbs` in CI."
    nbs = [p for p in sorted((ROOT/'nbs').glob('*.ipynb')) if '#| default_exp' in p.read_text()]
    assert len(nbs) >= 15
    found = {p.name: docs_executed_mixed_cells(p) for p in nbs}
    assert not any(found.values()), f'move the imports of these cells (notebook: cell indexes) into the import cell: {found}'


def test_mixed_cell_check_catches_one(tmp_path):
    import json
    cell = lambda s: {'cell_type': 'code', 'source': s, 'metadata': {}, 'outputs': [], 'execution_count': None}
    nb = {'cells': [cell('#| default_exp x'), cell('from a import b\nx = 1'), cell('import a'), cell('#| export\nimport a\nx = 1')]}
    (tmp_path/'x.ipynb').write_text(json.dumps(nb))
    assert docs_executed_mixed_cells(tmp_path/'x.ipynb') == [1]

def test_github_workflows_render_the_docs_and_run_ci():
    "nbdev's two workflows: the docs site rendered and published where Quarto runs (fastai's quarto-ghp), and `.ci/run` on every push."
    import yaml
    wf = ROOT/'.github'/'workflows'
    deploy, test = (yaml.safe_load((wf/f).read_text()) for f in ('deploy.yaml', 'test.yaml'))
    assert any(s.get('uses', '').startswith('fastai/workflows/quarto-ghp') for s in deploy['jobs']['deploy']['steps'])
    assert deploy['permissions'] == {'contents': 'write', 'pages': 'write'}
    assert any(s.get('run') == 'bash .ci/run' for s in test['jobs']['test']['steps'])

def joined_statements(nb_path:Path)->list:
    "(cell, line) of every `;` that joins statements in an export cell of a notebook (`;` inside strings does not count)."
    import io, json, tokenize
    out = []
    for i, cell in enumerate(json.loads(nb_path.read_text())['cells']):
        src = ''.join(cell['source'])
        if cell['cell_type'] != 'code' or not re.search(r'^#\|\s*export', src, re.M): continue
        for t in tokenize.generate_tokens(io.StringIO(src).readline):
            if t.type == tokenize.OP and t.string == ';': out.append((i, src.splitlines()[t.start[0] - 1].strip()))
    return out

def test_one_statement_per_line_in_export_cells(tmp_path):
    "No `;`-joined statements in what a notebook exports (#39); the check finds a planted one and ignores a `;` in a string."
    bad = {p.name: joined_statements(p) for p in sorted((ROOT/'nbs').glob('*.ipynb'))}
    assert not any(bad.values()), {k: v for k, v in bad.items() if v}
    nb = {'cells': [{'cell_type': 'code', 'source': ["#| export\n", "a = 'x; y'\n", "b = 1; c = 2\n"]}]}
    (tmp_path/'t.ipynb').write_text(__import__('json').dumps(nb))
    assert joined_statements(tmp_path/'t.ipynb') == [(0, 'b = 1; c = 2')]

def long_lines(pkg:Path, limit:int=120)->list:
    """Package lines over `limit` characters, but for what nbdev writes itself: the module docstring (the notebook's
    summary line) and the `__all__` list."""
    out = []
    for f in sorted(pkg.glob('*.py')):
        if f.name == '_modidx.py': continue
        src = f.read_text()
        tree = ast.parse(src)
        nbdev = set()
        for node in tree.body:
            doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is tree.body[0]
            names = isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets)
            if doc or names: nbdev |= set(range(node.lineno, node.end_lineno + 1))
        out += [f"{f.name}:{i}" for i, l in enumerate(src.splitlines(), 1) if len(l) > limit and i not in nbdev]
    return out

def test_no_package_line_over_120_characters(tmp_path):
    "Every line of the package fits in 120 characters (#39), nbdev's module docstring and `__all__` aside."
    assert long_lines(ROOT/'xcardia') == []
    (tmp_path/'m.py').write_text('"""' + 'd' * 130 + '"""\n__all__ = [' + "'a', " * 30 + "]\nx = '" + 'y' * 130 + "'\n")
    assert long_lines(tmp_path) == ['m.py:3']
