"""FLOPs of the image encoder per training sample at each preset (forward, and forward + backward), counted by
`FlopCounterMode` on the meta device: no memory, no time, the same figure on any machine.

    python benchmarks/bench_flops.py                     # every preset, and the paper's size with the old stem stride 1
"""
import torch
from torch.utils.flop_counter import FlopCounterMode
from xcardia.core import get_preset, PRESETS
from xcardia.encoders import ImageEncoder
from common import show

def flops(preset, **overrides)->dict:
    "Forward and forward + backward GFLOP of one sample through the preset's image encoder."
    p = get_preset(preset, **overrides)
    with torch.device('meta'):
        enc = ImageEncoder.from_preset(p); x = torch.zeros(2, 1, p.size, p.size, p.size)   # 2: BatchNorm in training mode needs more than one value
    with FlopCounterMode(display=False) as fwd, torch.no_grad(): enc(x)
    with FlopCounterMode(display=False) as both: enc(x).sum().backward()
    return dict(preset=p.name, size=f"{p.size}^3", resnet=f"{p.depth} (x{p.widen_factor:g})", stem_stride=str(p.conv1_t_stride),
                forward_GFLOP=fwd.get_total_flops() / 2e9, fwd_bwd_GFLOP=both.get_total_flops() / 2e9)

if __name__ == '__main__':
    rows = [flops(name) for name in PRESETS] + [flops('paper', conv1_t_stride=1)]
    show("Image encoder FLOPs per training sample (FlopCounterMode, meta device; batch 2, per sample)", rows)
