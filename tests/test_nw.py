"NWHead and encoders: edge cases beyond the notebooks' examples."
import numpy as np, pytest, torch
import torch.nn.functional as F
from xcardia.nw import NWHead, select_support
from xcardia.encoders import ImageEncoder, TabularEncoder, load_image_encoder, WeightLoadError

def loop_reference(z, sz, sy, tau, ids=None, sids=None):
    z, sz = F.normalize(z.double(), dim=-1), F.normalize(sz.double(), dim=-1)
    out = torch.full((len(z), sy.shape[1]), float('nan'), dtype=torch.double)
    for i in range(len(z)):
        ks = [k for k in range(len(sz)) if ids is None or ids[i] != sids[k]]
        if not ks: continue
        a = torch.softmax(torch.stack([z[i] @ sz[k] for k in ks]) / tau, 0)
        for c in range(sy.shape[1]):
            m = [j for j, k in enumerate(ks) if not torch.isnan(sy[k, c])]
            if m: out[i, c] = sum(a[j] * sy[ks[j], c] for j in m) / sum(a[j] for j in m)
    return out

@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('chunk', [1, 3, 4096])
def test_nw_matches_loop_random(seed, chunk):
    g = torch.Generator().manual_seed(seed)
    K, n, C, d = int(torch.randint(1, 30, (1,), generator=g)), 7, 4, 8
    sz, z = torch.randn(K, d, generator=g), torch.randn(n, d, generator=g)
    sy = (torch.rand(K, C, generator=g) < .4).float(); sy[torch.rand(K, C, generator=g) < .4] = float('nan')
    sids = torch.randperm(50, generator=g)[:K]
    ids = torch.randint(0, 50, (n,), generator=g)
    h = NWHead(tau=.2, chunk_size=chunk); h.set_support(sz, sy, sids)
    p, r = h(z, ids), loop_reference(z, sz, sy, .2, ids, sids)
    assert torch.equal(p.isnan(), r.isnan())
    assert torch.allclose(torch.nan_to_num(p, -1.), torch.nan_to_num(r, -1.).float(), atol=1e-6)

def test_bank_of_one_excluding_itself_is_nan():
    h = NWHead(); h.set_support(torch.randn(1, 4), torch.ones(1, 2), [5])
    assert h(torch.randn(1, 4), [5]).isnan().all()
    assert (h(torch.randn(1, 4), [6]) == 1).all()

def test_large_similarities_do_not_overflow():
    h = NWHead(tau=1e-4); sz = torch.randn(10, 4); h.set_support(sz, torch.eye(10)[:, :3])
    assert h(sz[:3] * 100).isfinite().all()

def test_set_support_validates():
    h = NWHead()
    with pytest.raises(ValueError, match='unique'): h.set_support(torch.randn(2, 3), torch.ones(2, 1), [1, 1])
    with pytest.raises(ValueError, match='0, 1 or NaN'): h.set_support(torch.randn(2, 3), torch.full((2, 1), .5))
    with pytest.raises(RuntimeError, match='empty support bank'): NWHead()(torch.randn(2, 3))

def test_select_support_negatives_and_determinism():
    g = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn(200, 6, generator=g), dim=-1); y = (torch.rand(200, 2, generator=g) < .5).float()
    a, b = select_support(z, y, k=5, negatives=True, seed=3), select_support(z, y, k=5, negatives=True, seed=3)
    assert np.array_equal(a, b) and len(a) <= 20 and len(select_support(z, y, k=5, negatives=False)) <= 10
    labels = y[a]
    assert (labels == 0).any() and (labels == 1).any()

def test_image_encoder_weights_from_file(tmp_path):
    torch.manual_seed(0)
    src = ImageEncoder(depth=10, d=16, widen_factor=.25)
    torch.save({'state_dict': src.state_dict()}, tmp_path/'w.pth')
    dst = ImageEncoder(depth=10, d=16, widen_factor=.25)
    assert load_image_encoder(dst, tmp_path/'w.pth')['missing'] == []
    x = torch.randn(1, 1, 16, 16, 16)
    assert torch.allclose(src.eval()(x), dst.eval()(x))
    with pytest.raises(FileNotFoundError, match='No weights file'): load_image_encoder(dst, tmp_path/'none.pth')
    with pytest.raises(WeightLoadError, match='missing'): load_image_encoder(ImageEncoder(depth=18, d=16, widen_factor=.25), tmp_path/'w.pth')

def test_tabular_encoder_categorical_only():
    enc = TabularEncoder(n_num=0, cat_cardinalities=[4, 2], d=8, n_blocks=1, d_block=16, attention_n_heads=4)
    e = enc(None, torch.tensor([[0, 1], [3, 0]]))
    assert e.shape == (2, 8) and torch.allclose(e.norm(dim=1), torch.ones(2))
