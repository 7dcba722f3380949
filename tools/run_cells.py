"""Run the cells of a notebook that carry one flag (`#| cuda`) as a plain script and keep their outputs in the notebook.

Usage: python tools/run_cells.py nbs/08_pretrain.ipynb --flag cuda [--out DIR]

For machines without Jupyter (the lent GPU machines have no IPython): only the flagged cells run, in order, in one
namespace, in the notebook's folder, so they must be self-contained (their own imports). Each cell's printed output,
the value of its last expression (as text, and as HTML where it has `_repr_html_`) and the matplotlib figures it left
open become its outputs; an exception stops the run and is kept as the cell's error output. The notebook is written
back (or to DIR); run `nbdev_clean` afterwards."""
import argparse, ast, base64, contextlib, io, json, os, re, sys, traceback
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from run_nbs import directives

class Tee(io.StringIO):
    "Collect what a cell prints and pass it on to the terminal."
    def __init__(self, stream): super().__init__(); self.stream = stream
    def write(self, s): self.stream.write(s); self.stream.flush(); return super().write(s)

_BAR = re.compile(r'█?\r| ?\|[█-]*\| [\d.]+% \[\d+/\d+ [^\]]*\]| {20,}|^ +$', re.M)

def clean_stream(text:str)->str:
    "Printed text without console progress bars (fastprogress redraws them with carriage returns)."
    return re.sub(r'\n{2,}', '\n', _BAR.sub('', text)).lstrip('\n')

def _figures()->list:
    "Open matplotlib figures as display_data outputs (PNG), closed afterwards."
    if 'matplotlib.pyplot' not in sys.modules: return []
    import matplotlib.pyplot as plt
    outs = []
    for n in plt.get_fignums():
        fig, buf = plt.figure(n), io.BytesIO()
        fig.savefig(buf, format='png', bbox_inches='tight')
        outs.append(dict(output_type='display_data', metadata={},
                         data={'image/png': base64.b64encode(buf.getvalue()).decode(), 'text/plain': [repr(fig)]}))
    plt.close('all')
    return outs

def _result(value, count:int)->dict:
    data = {'text/plain': repr(value).splitlines(True)}
    if hasattr(value, '_repr_html_'): data['text/html'] = value._repr_html_().splitlines(True)
    return dict(output_type='execute_result', execution_count=count, metadata={}, data=data)

def run_cell(source:str, ns:dict, count:int)->tuple:
    "Execute one cell's source in `ns`; (outputs, ok)."
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out, outs, ok, value = Tee(sys.stdout), [], True, None
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(tree, '<cell>', 'exec'), ns)
            if last is not None: value = eval(compile(ast.Expression(last.value), '<cell>', 'eval'), ns)
    except Exception as e:
        ok = False
        err = dict(output_type='error', ename=type(e).__name__, evalue=str(e), traceback=traceback.format_exc().splitlines())
    text = clean_stream(out.getvalue())
    if text: outs.append(dict(output_type='stream', name='stdout', text=text.splitlines(True)))
    outs += _figures()
    if not ok: outs.append(err)
    elif value is not None: outs.append(_result(value, count))
    return outs, ok

def run_flagged(path:Path, flag:str, out:Path|None=None)->bool:
    "Run the cells of `path` flagged `flag`; write the notebook with their outputs to `out` (default: in place)."
    nb = json.loads(path.read_text())
    os.environ.setdefault('MPLBACKEND', 'Agg')
    ns, count, ok = {'__name__': '__main__'}, 0, True
    cwd = os.getcwd(); os.chdir(path.parent)
    try:
        for cell in nb['cells']:
            if cell['cell_type'] != 'code' or flag not in directives(''.join(cell['source'])): continue
            count += 1
            print(f'--- cell {count}', flush=True)
            cell['outputs'], ok = run_cell(''.join(cell['source']), ns, count)
            cell['execution_count'] = count
            if not ok: print(cell['outputs'][-1]['traceback'][-1], file=sys.stderr); break
    finally: os.chdir(cwd)
    dest = (out/path.name) if out else path
    dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return ok

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebook'); ap.add_argument('--flag', default='cuda'); ap.add_argument('--out', help='folder to write the notebook to')
    a = ap.parse_args()
    sys.exit(0 if run_flagged(Path(a.notebook).resolve(), a.flag, Path(a.out).resolve() if a.out else None) else 1)
