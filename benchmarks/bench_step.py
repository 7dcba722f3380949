"""One pre-training step (NW+MMCL) at a preset's size: volumes/s, peak memory, FLOP utilisation, by precision and layout;
the same step in a plain PyTorch loop and in a fastai Learner; the largest batch that fits (CUDA).

    python benchmarks/bench_step.py --preset paper            # GPU: ResNet-50, 164^3, batch 12
    python benchmarks/bench_step.py --preset small --steps 10  # CPU at demo size
"""
import argparse, gc, sys, time, warnings
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import show
from xcardia.core import get_preset, peak_memory, mixed_precision_cbs
from xcardia.encoders import ImageEncoder, TabularEncoder
from xcardia.pretrain import XCardiaModel, XCardiaLoss, TABULAR_SIZES

ap = argparse.ArgumentParser()
ap.add_argument('--preset', default='small'); ap.add_argument('--bs', type=int); ap.add_argument('--steps', type=int, default=10)
ap.add_argument('--peak-tflops', type=float, default=989., help='the GPU bf16 dense peak (H100 SXM: 989)')
ap.add_argument('--modes', default='fp32,bf16,channels_last,compile,learner')
ap.add_argument('--skip-largest', action='store_true', help='do not search for the largest batch (CUDA)')
a = ap.parse_args()
p = get_preset(a.preset, bs=a.bs)
dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
N_NUM, CARDS = 20, [4, 3, 5]

def model():
    torch.manual_seed(0)
    m = XCardiaModel(ImageEncoder.from_preset(p),
                     TabularEncoder(N_NUM, CARDS, d=p.d, **TABULAR_SIZES.get(p.name, {})), 'nw', tau_nw=p.tau_nw).to(dev)
    m.head.set_support(torch.nn.functional.normalize(torch.randn(200, p.d), dim=1).to(dev), (torch.rand(200, 10) < .2).float().to(dev),
                       torch.arange(10**6, 10**6 + 200).to(dev))
    return m

def batch(bs):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(bs, 1, p.size, p.size, p.size, generator=g), torch.randn(bs, N_NUM, generator=g),
            torch.stack([torch.randint(0, c, (bs,), generator=g) for c in CARDS], 1), (torch.rand(bs, 10, generator=g) < .2).float(),
            torch.arange(bs))

def sync():
    if dev.type == 'cuda': torch.cuda.synchronize()

def flops_per_sample():
    from torch.utils.flop_counter import FlopCounterMode
    m = model(); b = [t.to(dev) for t in batch(2)]; lf = XCardiaLoss(m, p.lambda_nw, p.tau_clip)
    with FlopCounterMode(display=False) as fc:
        lf(m(*b[:3]), *b[3:]).backward()
    return fc.get_total_flops() / 2

def plain(mode, bs, steps):
    m = model(); lf = XCardiaLoss(m, p.lambda_nw, p.tau_clip)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=.01, fused=dev.type == 'cuda')
    b = [t.to(dev) for t in batch(bs)]
    if mode == 'channels_last': m = m.to(memory_format=torch.channels_last_3d); b[0] = b[0].contiguous(memory_format=torch.channels_last_3d)
    fwd = torch.compile(m) if mode == 'compile' else m
    amp = torch.autocast(dev.type, dtype=torch.bfloat16) if mode in ('bf16', 'channels_last', 'compile') and dev.type == 'cuda' else torch.autocast(dev.type, enabled=False)
    def step():
        with amp: loss = lf(fwd(*b[:3]), *b[3:])
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    step(); step(); sync()                                   # warm-up (and compilation)
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    with peak_memory() as pm:
        t = time.perf_counter()
        for _ in range(steps): step()
        sync(); dt = time.perf_counter() - t
    mem = torch.cuda.max_memory_allocated() / 2**30 if dev.type == 'cuda' else pm.peak / 2**30
    return bs * steps / dt, mem

def learner(bs, steps):
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.optimizer import Adam
    from functools import partial
    class DS(torch.utils.data.Dataset):
        n_inp = 3
        def __init__(self, n): self.b = batch(bs); self.n = n
        def __len__(self): return self.n
        def __getitem__(self, i): return tuple(t[i % bs] for t in self.b[:4]) + (torch.tensor(i),)
    dls = DataLoaders.from_dsets(DS(bs * steps), DS(bs), bs=bs, device=dev, shuffle=(False, False), drop_last=(True, False))
    m = model()
    learn = Learner(dls, m, loss_func=XCardiaLoss(m, p.lambda_nw, p.tau_clip), opt_func=partial(Adam, decouple_wd=True), lr=1e-4, wd=.01,
                    cbs=mixed_precision_cbs(dev))
    with learn.no_bar(), learn.no_logging(): learn.fit(1)       # warm-up
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    with learn.no_bar(), learn.no_logging(), peak_memory() as pm:
        sync(); t = time.perf_counter(); learn.fit(1); sync(); dt = time.perf_counter() - t
    mem = torch.cuda.max_memory_allocated() / 2**30 if dev.type == 'cuda' else pm.peak / 2**30
    return bs * (steps + 1) / dt, mem                             # steps training batches + one validation batch (forward only)

fl = flops_per_sample()
rows = []
for mode in a.modes.split(','):
    if mode in ('bf16',) and dev.type != 'cuda': continue        # bf16 autocast on this CPU is ~200x slower (DESIGN.md)
    bs, note = p.bs, ''
    while True:                                                  # out of memory: say so, and halve the batch
        try:
            vps, mem = learner(bs, a.steps) if mode == 'learner' else plain(mode, bs, a.steps); break
        except torch.OutOfMemoryError:
            note += f'out of memory at batch {bs}; '; bs //= 2
        except Exception as e:
            vps = None; note += str(e).splitlines()[0][:80]; break
        finally:
            gc.collect()
            if dev.type == 'cuda': torch.cuda.empty_cache()
        if bs < 1: vps = None; break
    if vps is None: rows.append(dict(mode=mode, note=note)); continue
    row = dict(mode=mode + (' (fastai Learner, mixed precision cbs)' if mode == 'learner' else ''), batch=bs, vol_per_s=vps, peak_GiB=mem,
               TFLOP_per_s=vps * fl / 1e12)
    if dev.type == 'cuda': row['MFU_%'] = 100 * vps * fl / 1e12 / a.peak_tflops
    row['note'] = note
    rows.append(row)
show(f"Pre-training step, preset {p.name}: ResNet-{p.depth} (width x{p.widen_factor}), {p.size}^3, batch {p.bs}; "
     f"{fl / 1e9:.3g} GFLOP per training sample (FlopCounterMode, forward + backward)", rows)
if dev.type == 'cuda' and not a.skip_largest:
    bs, fits = p.bs, p.bs
    while bs <= 256:
        try: plain('bf16', bs, 2); fits = bs; bs *= 2
        except torch.OutOfMemoryError: break
        finally: gc.collect(); torch.cuda.empty_cache()
    print(f"\nLargest batch that fits (bf16, doubling from {p.bs}): {fits}")
