"Shared helpers of the benchmark scripts: machine description and a timer."
import os, platform, time, json
import torch

def machine()->str:
    "One line: CPU cores, GPU (if any), torch version."
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}, Python {platform.python_version()}"

def timeit(fn, repeat:int=3, warmup:int=1)->float:
    "Best wall time of `fn()` in seconds (CUDA synchronised)."
    for _ in range(warmup): fn()
    best = float('inf')
    for _ in range(repeat):
        if torch.cuda.is_available(): torch.cuda.synchronize()
        t = time.perf_counter(); fn()
        if torch.cuda.is_available(): torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best

def show(title:str, rows:list):
    "Print a markdown table of dict rows under a title, with the machine line."
    print(f"\n## {title}\n\n{machine()}\n")
    if not rows: print('(nothing measured)'); return
    cols = list(dict.fromkeys(k for r in rows for k in r))         # every column any row has, in first-seen order
    fmt = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)
    print('| ' + ' | '.join(cols) + ' |\n|' + '---|' * len(cols))
    for r in rows: print('| ' + ' | '.join(fmt(r.get(c, '')) for c in cols) + ' |')
