"Under torch.distributed (2 CPU processes, gloo), CLIP and NT-Xent with DDP-style gradient averaging give the single-process gradient of the global batch."
import os, socket
import pytest, torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from xcardia.losses import clip_loss, nt_xent

def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _grads(rank, loss_name, world, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    if world > 1: dist.init_process_group('gloo', rank=rank, world_size=world)
    torch.manual_seed(0)
    w = torch.randn(8, 6, requires_grad=True)
    xa, xb = torch.randn(8, 8), torch.randn(8, 8)
    n = 8 // world
    a, b = xa[rank * n:(rank + 1) * n] @ w, xb[rank * n:(rank + 1) * n] @ w
    loss = clip_loss(F.normalize(a, dim=-1), F.normalize(b, dim=-1)) if loss_name == 'clip' else nt_xent(a, b, .2)
    loss.backward()
    g = w.grad.clone()
    if world > 1:
        dist.all_reduce(g); g /= world   # what DDP does
        dist.destroy_process_group()
    if rank == 0: torch.save(g, out)

@pytest.mark.parametrize('loss_name', ['clip', 'nt_xent'])
def test_two_processes_equal_one(loss_name, tmp_path):
    _grads(0, loss_name, 1, 0, tmp_path/'single.pt')
    mp.spawn(_grads, args=(loss_name, 2, _free_port(), tmp_path/'multi.pt'), nprocs=2, join=True)
    single, multi = torch.load(tmp_path/'single.pt'), torch.load(tmp_path/'multi.pt')
    assert torch.allclose(single, multi, atol=1e-5), (single - multi).abs().max()
