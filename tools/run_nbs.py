"""Execute notebooks in place and keep their outputs, for readers and the docs.

Usage: python tools/run_nbs.py nbs/00_core.ipynb [...] [--flags slow cuda]

Cells marked with a flag from settings.ini's `tst_flags` (`slow`, `cuda`) are skipped unless the flag is
passed, and a skipped cell keeps the outputs it already had (so a slow experiment's figures stay in the
notebook). Run `nbdev_clean` afterwards. `nbdev_test` checks notebooks; this script only refreshes outputs."""
import argparse, os, re, sys
from pathlib import Path

_DIREC = re.compile(r'^\s*#\s*\|\s*([\w:-]+)(.*)$')

def directives(source:str)->dict:
    "nbdev directives of a cell (`#| slow` -> {'slow': ''})."
    out = {}
    for line in source.splitlines():
        m = _DIREC.match(line)
        if m: out[m.group(1).rstrip(':')] = m.group(2).strip()
        elif line.strip(): break
    return out

def run_nb(path:Path, flags=(), all_flags=('slow', 'cuda'))->bool:
    "Execute `path` in its own folder, skipping cells with flags not in `flags`; save outputs; True on success."
    from execnb.nbio import read_nb, write_nb              # here, so that `directives` imports without Jupyter
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    nb = read_nb(path)
    skip = set(all_flags) - set(flags)
    def _skip(cell):
        if cell.cell_type != 'code' or 'nbdev_export(' in cell.source: return True
        d = directives(cell.source)
        return d.get('eval', '').lower() == 'false' or bool(skip & d.keys())
    shell = CaptureShell(path)
    os.environ.setdefault('IN_TEST', '1')
    with working_directory(path.parent):
        shell.run_all(nb, exc_stop=True, preproc=_skip)
    write_nb(nb, path)
    return True

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='+')
    ap.add_argument('--flags', nargs='*', default=[], help='flagged cells to run too (slow, cuda)')
    a = ap.parse_args()
    for p in a.notebooks:
        print(f'running {p}', flush=True)
        run_nb(Path(p).resolve(), a.flags)
