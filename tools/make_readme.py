"""Write README.md from nbs/index.ipynb without Quarto (which `nbdev_readme` needs).

The route: nbdev's own docs processors (`FilterDefaults`, as `nbdev_proc_nbs` applies them: hidden cells
dropped, directives removed, the title and summary turned into front matter), then nbconvert's Markdown
exporter, then three small rewrites for GitHub: the front matter back into a title and summary line,
`{mermaid}` blocks into `mermaid` blocks, image paths made relative to the root, and no trailing spaces.

Usage: python tools/make_readme.py            # write README.md
       python tools/make_readme.py --check    # exit 1 if README.md is not what index.ipynb gives"""
import argparse, difflib, os, re, sys
from pathlib import Path
import yaml
from execnb.nbio import read_nb, dict2nb
from nbdev.config import get_config
from nbdev.processors import FilterDefaults
from nbconvert import MarkdownExporter

def render_readme()->str:
    "README.md's text, from the project's `readme_nb`."
    cfg = get_config()
    os.environ['IN_TEST'] = '1'
    nb = read_nb(cfg.nbs_path/cfg.readme_nb)
    FilterDefaults()(nb)
    head = ''
    if nb.cells and nb.cells[0].cell_type == 'raw' and nb.cells[0].source.lstrip().startswith('---'):
        fm = yaml.safe_load(nb.cells[0].source.strip().strip('-')) or {}
        head = f"# {fm.get('title', cfg.lib_name)}\n\n" + (f"> {fm['description']}\n\n" if fm.get('description') else '')
        nb.cells = nb.cells[1:]
    body, _ = MarkdownExporter().from_notebook_node(nb_to_nbformat(nb))
    text = head + body
    text = re.sub(r'```\s*\{mermaid\}', '```mermaid', text)
    text = re.sub(r'\]\(((?:images|study_\w+)/[^)]+)\)', r'](nbs/\1)', text)   # figures live under nbs/; README sits at the root
    text = '\n'.join(l.rstrip() for l in text.splitlines())
    return re.sub(r'\n{3,}', '\n\n', text).strip() + '\n'

def nb_to_nbformat(nb):
    "execnb's AttrDict notebook as an nbformat node, for nbconvert."
    import nbformat, json
    d = json.loads(json.dumps(nb, default=dict))
    d.setdefault('nbformat', 4); d.setdefault('nbformat_minor', 5); d.setdefault('metadata', {})
    d['metadata']['language_info'] = {'name': 'python'} # code blocks fenced as ```python
    for c in d['cells']:
        c.pop('idx_', None); c.pop('directives_', None)
        if isinstance(c.get('source'), list): c['source'] = ''.join(c['source'])
        c.setdefault('metadata', {})
        if c['cell_type'] == 'code': c.setdefault('outputs', []); c.setdefault('execution_count', None)
        for o in c.get('outputs', []):
            if isinstance(o.get('text'), list): o['text'] = ''.join(o['text'])
            for k, v in o.get('data', {}).items():
                if isinstance(v, list): o['data'][k] = ''.join(v)
    return nbformat.from_dict(d)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description='Write README.md from nbs/index.ipynb')
    ap.add_argument('--check', action='store_true', help='fail if README.md is out of date instead of writing it')
    a = ap.parse_args()
    out = get_config().config_path/'README.md'
    new = render_readme()
    if a.check:
        old = out.read_text() if out.exists() else ''
        if old != new:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), 'README.md', 'from nbs/index.ipynb'))
            sys.exit('README.md is out of date with nbs/index.ipynb: run `python tools/make_readme.py` and commit it.')
        print('README.md is in sync with nbs/index.ipynb')
    else:
        out.write_text(new); print(f'wrote {out}')
