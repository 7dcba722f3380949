"The evaluation module used as a library, outside the notebook's namespace: figures, Grad-CAM block choice and mode."
import matplotlib
matplotlib.use('Agg')
import numpy as np
import torch
from xcardia.core import get_preset
from xcardia.encoders import ImageEncoder
from xcardia import evaluate as ev

def test_figures_need_no_axes_passed_in():
    rng = np.random.default_rng(0); p = rng.random(200); y = (rng.random(200) < p).astype(float)
    assert ev.reliability_diagram(p, y) is not None
    assert ev.plot_differences([.1, -.02], [.05, -.1], [.15, .06], ['a', 'b']) is not None
    e = rng.normal(size=(30, 8)); e /= np.linalg.norm(e, axis=1, keepdims=True)
    ev.plot_modality_pca({'x': (e, e)})
    cams = {'m': rng.random((8, 8, 8))}
    assert ev.cam_figure(cams, rng.random((8, 8, 8))) is not None

def test_cam_layer_avoids_one_voxel_maps_and_keeps_batchnorm_statistics():
    p = get_preset('small')
    enc = ImageEncoder.from_preset(p).train()
    stats = {k: v.clone() for k, v in enc.state_dict().items() if 'running' in k}
    x = torch.randn(1, 1, p.size, p.size, p.size)
    assert ev.cam_layer(enc, x) == 'layer2' and ev.cam_layer(enc, x, min_side=1) == 'layer4'
    assert enc.training                                                    # mode restored
    assert all(torch.equal(v, enc.state_dict()[k]) for k, v in stats.items())   # no BatchNorm update

def test_grad_cam_of_a_fresh_wrapper_leaves_the_model_in_eval_mode():
    p = get_preset('tiny')
    enc = ImageEncoder.from_preset(p).eval()
    class Scores(torch.nn.Module):    # a new wrapper: training=True, as `PhenotypeScores(...)` is
        def __init__(self, m): super().__init__(); self.m = m
        def forward(self, x): return self.m(x)[:, :3]
    cam = ev.grad_cam(Scores(enc), torch.randn(1, 1, p.size, p.size, p.size), 0)
    assert cam.shape == (p.size,) * 3 and (cam >= 0).all() and not enc.training

def test_grad_cam_is_brightest_where_the_score_comes_from():
    "A score that sums one corner of a feature map: its Grad-CAM must be high there (MONAI's default normalizer inverts maps)."
    class CornerScore(torch.nn.Module):
        def __init__(self):
            super().__init__(); self.layer1 = torch.nn.Conv3d(1, 1, 1, bias=False)
            torch.nn.init.ones_(self.layer1.weight)
        def forward(self, x):
            a = torch.relu(self.layer1(x))
            return a[:, :, :4, :4, :4].sum((1, 2, 3, 4))[:, None]   # (n, 1)
    x = torch.rand(1, 1, 12, 12, 12) * .1
    x[..., :4, :4, :4] += 1.                                   # the corner the score reads is also the bright one
    cam = ev.grad_cam(CornerScore(), x, 0, layer='layer1')
    assert cam.shape == (12, 12, 12) and (cam >= 0).all() and np.isclose(cam.max(), 1.)
    inside = np.zeros((12, 12, 12), bool); inside[:4, :4, :4] = True
    assert cam[inside].mean() > 5 * cam[~inside].mean()
    assert ev.cam_mass_inside(cam, inside) > ev.cam_mass_inside(ev.centred_blob(cam.shape), inside)
