"Two CPU processes (gloo) against one: the X-Cardia loss, the encoders' gradients and the support bank."
import os, socket
import pytest, torch
import torch.distributed as dist
import torch.multiprocessing as mp
from xcardia.encoders import ImageEncoder, TabularEncoder
from xcardia.pretrain import XCardiaModel, XCardiaLoss, gather_support

def _port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _no_batchnorm(module):
    "Replace every BatchNorm by a per-sample GroupNorm (MONAI's ResNet uses BatchNorm inside its blocks whatever `norm` says)."
    for name, child in module.named_children():
        if isinstance(child, torch.nn.BatchNorm3d): setattr(module, name, torch.nn.GroupNorm(1, child.num_features))
        else: _no_batchnorm(child)
    return module

def _model():
    torch.manual_seed(0)   # no BatchNorm and no dropout: a batch split across ranks computes the same thing
    img = _no_batchnorm(ImageEncoder(10, d=16, widen_factor=.25))
    tab = TabularEncoder(3, [3], d=16, n_blocks=1, d_block=16, attention_n_heads=4, attention_dropout=0., ffn_dropout=0., residual_dropout=0.)
    model = XCardiaModel(img, tab, 'nw', n_targets=2, tau_nw=.2)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return model

def _data():
    g = torch.Generator().manual_seed(1)
    ct, num, cat = torch.randn(8, 1, 16, 16, 16, generator=g), torch.randn(8, 3, generator=g), torch.randint(0, 3, (8, 1), generator=g)
    y = (torch.rand(8, 2, generator=g) < .5).float()       # all known: equal counts on both ranks
    return ct, num, cat, y, torch.arange(8)

def _run(rank, world, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    if world > 1: dist.init_process_group('gloo', rank=rank, world_size=world)
    model = _model(); ct, num, cat, y, idx = _data()
    with torch.no_grad(): z_all = model(ct, num, cat)[2]
    n = 8 // world; sl = slice(rank * n, (rank + 1) * n)
    bank = gather_support(z_all[sl], y[sl], idx[sl], k=2, seed=0, negatives=True)   # each rank encodes its shard
    model.head.set_support(*bank)
    loss = XCardiaLoss(model, lambda_nw=.5)
    l = loss(model(ct[sl], num[sl], cat[sl]), y[sl], idx[sl])
    l.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    terms = torch.stack([loss.terms['clip'], loss.terms['nw']])
    if world > 1:
        dist.all_reduce(grads); grads /= world                     # what DDP does
        banks = [torch.zeros_like(bank[2]) for _ in range(world)]; dist.all_gather(banks, bank[2])
        assert all(torch.equal(b, banks[0]) for b in banks), "support banks differ between ranks"
        dist.destroy_process_group()
    if rank == 0: torch.save(dict(grads=grads, bank_ids=bank[2], bank_z=bank[0]), out)

def test_two_processes_equal_one(tmp_path):
    _run(0, 1, 0, tmp_path/'one.pt')
    mp.spawn(_run, args=(2, _port(), tmp_path/'two.pt'), nprocs=2, join=True)
    one, two = torch.load(tmp_path/'one.pt'), torch.load(tmp_path/'two.pt')
    assert torch.equal(one['bank_ids'], two['bank_ids']) and torch.allclose(one['bank_z'], two['bank_z'], atol=1e-6)
    assert torch.allclose(one['grads'], two['grads'], atol=1e-5), (one['grads'] - two['grads']).abs().max()
