"""One pre-training step (NW+MMCL) at a preset's size: volumes/s, peak memory, FLOP utilisation, by precision and layout;
the same step in a plain PyTorch loop and in a fastai Learner; the largest batch that fits (CUDA).

    python benchmarks/bench_step.py --preset paper            # GPU: ResNet-50, 164^3, batch 12
    python benchmarks/bench_step.py --preset small --steps 10  # CPU at demo size
"""
import argparse, contextlib, gc, io, sys, time, warnings
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import show
from xcardia.core import get_preset, peak_memory
from xcardia.encoders import ImageEncoder, TabularEncoder
from xcardia.pretrain import XCardiaModel, XCardiaLoss, TABULAR_SIZES

ap = argparse.ArgumentParser()
ap.add_argument('--preset', default='small'); ap.add_argument('--bs', type=int); ap.add_argument('--steps', type=int, default=10)
ap.add_argument('--peak-tflops', type=float, default=989., help='the GPU bf16 dense peak (H100 SXM: 989)')
ap.add_argument('--modes', default='fp32,bf16,channels_last,compile,plain_dl,learner',
                help='plain-loop modes fp32, bf16, channels_last, compile, plain_dl; learner[+cl][+cudnn][+compile][+fused] or learner+fast')
ap.add_argument('--repeat', type=int, default=3, help='measurements per mode, interleaved; the table gives the median and the range')
ap.add_argument('--bank', type=int, default=0, help='also time the support-bank encoding of this many studies, float32 against autocast (`encode_bank(amp=)`)')
ap.add_argument('--skip-largest', action='store_true', help='do not search for the largest batch (CUDA)')
a = ap.parse_args()
p = get_preset(a.preset, bs=a.bs)
dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
N_NUM, CARDS = 20, [4, 3, 5]

def model():
    torch.manual_seed(0)
    m = XCardiaModel(ImageEncoder.from_preset(p),
                     TabularEncoder(N_NUM, CARDS, d=p.d, **TABULAR_SIZES.get(p.name, {})), 'nw').to(dev)
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
    m = model(); b = [t.to(dev) for t in batch(2)]; lf = XCardiaLoss(m)
    with FlopCounterMode(display=False) as fc:
        lf(m(*b[:3]), *b[3:]).backward()
    return fc.get_total_flops() / 2

class _Batches(torch.utils.data.Dataset):
    "`n` studies cut from one random batch: the same data for the plain loop over a DataLoader and for the Learner."
    n_inp = 3
    def __init__(self, bs, n): self.b, self.n = batch(bs), n
    def __len__(self): return self.n
    def __getitem__(self, i): return tuple(t[i % len(t)] for t in self.b[:4]) + (torch.tensor(i),)

def _dls(bs, steps):
    from fastai.data.core import DataLoaders
    # as `make_dls` on the CPU: no worker processes (fastai's own default, 2 here, forks them at every epoch's start)
    return DataLoaders.from_dsets(_Batches(bs, bs * steps), _Batches(bs, bs), bs=bs, device=dev, shuffle=(True, False),
                                  drop_last=(True, False), num_workers=0 if dev.type == 'cpu' else 8)

def _peak_GiB(pm)->float: return (torch.cuda.max_memory_allocated() if dev.type == 'cuda' else pm.peak) / 2**30

def plain(mode, bs, steps):
    "The step in a plain PyTorch loop with fused AdamW: one batch already on the device, reused (fp32, bf16, channels_last, compile), or `plain_dl`: batches from the Learner's DataLoader (what the data path costs)."
    m = model(); lf = XCardiaLoss(m)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=.01, fused=True)
    if mode == 'plain_dl': dl = _dls(bs, steps).train
    else: b = [t.to(dev) for t in batch(bs)]
    if mode == 'channels_last': m = m.to(memory_format=torch.channels_last_3d); b[0] = b[0].contiguous(memory_format=torch.channels_last_3d)
    fwd = torch.compile(m) if mode == 'compile' else m
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == 'cuda' and mode != 'fp32')
    def run():
        for x in (dl if mode == 'plain_dl' else [b] * steps):
            with amp: loss = lf(fwd(*x[:3]), *x[3:])
            loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    run(); sync()                                            # warm-up (and compilation)
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    with peak_memory() as pm:
        t = time.perf_counter(); run(); sync(); dt = time.perf_counter() - t
    return bs * steps / dt, _peak_GiB(pm)

FLAGS = {'cl': 'channels_last', 'compile': 'compile', 'cudnn': 'cudnn_benchmark', 'fused': 'fused_adamw'}

def learner_flags(mode):
    "'learner' (every fast-path switch off), 'learner+cl+cudnn+compile+fused' (those on), 'learner+fast' (a long run's defaults on this device, compile included), 'learner+fast+fused'."
    flags = mode.split('+')[1:]
    bad = set(flags) - set(FLAGS) - {'fast'}
    if bad: raise SystemExit(f"unknown learner flag(s) {sorted(bad)}: use {sorted(FLAGS)} or fast")
    out = {v: k in flags for k, v in FLAGS.items()}
    if 'fast' in flags:
        from xcardia.train import fast_path
        f = fast_path(dev); out.update({k: bool(out[k] or (v is not False)) for k, v in f.items()})
    return out

def learner(bs, steps, flags:dict):
    "xcardia's Learner (`make_learner`: AdamW, the CSV log, checkpoint, best model, the loss-term metrics, mixed precision on CUDA, the fast path as `flags` say); the training phase timed by `Throughput`, after one warm-up epoch (which compiles)."
    import tempfile
    from xcardia.train import make_learner, Throughput
    from xcardia.pretrain import LossTerm
    m = model(); tp = Throughput()
    learn = make_learner(_dls(bs, steps), m, XCardiaLoss(m), lr=1e-4, wd=.01, patience=None,
                         metrics=[LossTerm('clip'), LossTerm('nw')], path=tempfile.mkdtemp(), cbs=[tp], **flags)
    learn.recorder.train_metrics = True                          # as `pretrain_learner`
    quiet = lambda: contextlib.redirect_stdout(io.StringIO())    # the best-model callback's line per fit
    with learn.no_bar(), learn.no_logging(), quiet(): learn.fit(1)   # warm-up
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    with learn.no_bar(), learn.no_logging(), quiet(), peak_memory() as pm: learn.fit(1)
    mem = _peak_GiB(pm)
    r, fp = tp.table.iloc[-1], [cb for cb in learn.cbs if type(cb).__name__ == 'FastPath']
    compile_s = fp[0].compile_s if fp and fp[0].compiled else None
    return r.studies_per_s, mem, (r.train_s, r.epoch_s, compile_s)   # the training phase; seconds of it, of the whole epoch, of the first compiled batch

def measure(mode, bs):
    "One measurement of `mode`: (studies/s, peak GiB, whole-epoch studies/s or None, batch, note); out of memory: the batch halved."
    note = ''
    while bs >= 1:
        try:
            if mode.startswith('learner'): return (*learner(bs, a.steps, learner_flags(mode)), bs, note)
            return (*plain(mode, bs, a.steps), None, bs, note)
        except torch.OutOfMemoryError: note += f'out of memory at batch {bs}; '; bs //= 2
        except Exception as e: return None, None, None, bs, note + str(e).splitlines()[0][:80]
        finally:
            gc.collect()
            if dev.type == 'cuda': torch.cuda.empty_cache()
    return None, None, None, bs, note

fl = flops_per_sample()
modes = [m for m in a.modes.split(',') if not (m == 'bf16' and dev.type != 'cuda')]   # bf16 autocast on this CPU is ~200x slower (DESIGN.md)
runs = {m: [] for m in modes}
for r in range(a.repeat):                                        # interleaved: a slow spell of the machine hits every mode alike
    for mode in modes:
        if r and (not runs[mode] or runs[mode][-1][0] is None): continue
        runs[mode].append(measure(mode, runs[mode][-1][3] if runs[mode] else p.bs))
rows = []
for mode in modes:
    got = [x for x in runs[mode] if x[0] is not None]
    if not got: rows.append(dict(mode=mode, note=runs[mode][-1][4])); continue
    v = sorted(x[0] for x in got); vps = float(np.median(v)); bs, note = got[-1][3], got[-1][4]
    label = (f"{mode} (make_learner, training phase)" if mode.startswith('learner') else
             {'plain_dl': 'plain loop, batches from the DataLoader'}.get(mode, mode))
    row = dict(mode=label, batch=bs, vol_per_s=vps, range=f'{v[0]:.3g}-{v[-1]:.3g}' if len(v) > 1 else '', peak_GiB=max(x[1] for x in got),
               TFLOP_per_s=vps * fl / 1e12)
    if dev.type == 'cuda': row['MFU_%'] = 100 * vps * fl / 1e12 / a.peak_tflops
    ep = [x[2] for x in got if x[2]]
    row['note'] = note + (f'training {np.median([e[0] for e in ep]):.2f} s, whole epoch {np.median([e[1] for e in ep]):.2f} s '
                          f'(+ one validation batch, checkpoint, best model, log)' if ep else '')
    cs = [e[2] for e in ep if e[2] is not None]
    if cs: row['note'] += f'; first compiled training batch {max(cs):.1f} s'
    rows.append(row)
show(f"Pre-training step, preset {p.name}, median of {a.repeat} interleaved runs of {a.steps} steps: ResNet-{p.depth} (width x{p.widen_factor}), {p.size}^3, batch {p.bs}; "
     f"{fl / 1e9:.3g} GFLOP per training sample (FlopCounterMode, forward + backward)", rows)
if dev.type == 'cuda' and not a.skip_largest:
    bs, fits = p.bs, p.bs
    while bs <= 256:
        try: plain('bf16', bs, 2); fits = bs; bs *= 2
        except torch.OutOfMemoryError: break
        finally: gc.collect(); torch.cuda.empty_cache()
    print(f"\nLargest batch that fits (bf16, doubling from {p.bs}): {fits}")

if a.bank:
    from xcardia.pretrain import encode_bank
    m = model(); dl = _dls(p.bs, -(-a.bank // p.bs)).train.new(shuffle=False)   # one order: the same batches both times
    rows = []
    for amp in (False, True):
        encode_bank(m, dl, amp=amp); sync()                        # warm-up
        t = time.perf_counter(); e = encode_bank(m, dl, amp=amp); sync(); dt = time.perf_counter() - t
        rows.append(dict(amp=amp, studies=len(e['z']), seconds=dt, studies_per_s=len(e['z']) / dt))
        if amp: rows[-1]['max |z - z_fp32|'] = float((e['z'] - z32).abs().max())
        else: z32 = e['z']
    show(f"Support-bank encoding (BatchNorm on batch statistics, as during the fit), preset {p.name}, batch {p.bs}", rows)
