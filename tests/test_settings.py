"Each method default is written once, in `xcardia.settings`, and travels typed from the YAML to the model and the bundle."
import inspect, json, re, warnings
from pathlib import Path
import pytest
import xcardia.evaluate as xe, xcardia.report as xr
from xcardia.settings import METHOD, N_BOOT, MethodSettings, method_settings
from xcardia.nw import NWHead, select_support
from xcardia.losses import CLIPLoss, clip_loss, nt_xent, supcon_loss, SupConLoss, positive_mask, ahnp_weights
from xcardia.bank import gather_support, SupportBankCallback
from xcardia.augment import view_args
from xcardia.pretrain import XCardiaModel, XCardiaLoss, SimCLRLoss, pretrain_learner
from xcardia.config import Pretrain, RunEntry, Evaluate, load_config, AUGMENT_DEFAULTS, METHOD_SETTINGS

PKG = Path(__file__).resolve().parents[1]/'xcardia'

# (callable, its parameter, the `MethodSettings` field whose default it takes)
READERS = [(NWHead.__init__, 'tau', 'tau_nw'), (select_support, 'k', 'k_support'), (clip_loss, 'tau', 'tau_clip'),
           (CLIPLoss.__init__, 'tau', 'tau_clip'), (nt_xent, 'tau', 'tau_simclr'), (gather_support, 'k', 'k_support'),
           (SupportBankCallback.__init__, 'k', 'k_support'), (SupportBankCallback.__init__, 'every', 'refresh_every'),
           (XCardiaModel.__init__, 'tau_nw', 'tau_nw'), (SimCLRLoss.__init__, 'tau', 'tau_simclr')]
READERS += [(XCardiaLoss.__init__, k, k) for k in ('lambda_nw', 'tau_clip', 'nw_query', 'nw_tab_grad', 'nw_targets')]
READERS += [(XCardiaLoss.__init__, 'learnable_tau', 'learnable_tau'), (CLIPLoss.__init__, 'learnable', 'learnable_tau')]
READERS += [(view_args, k, f'augment.{k}') for k in METHOD.augment.view]
READERS += [(supcon_loss, 'tau', 'tau_supcon'), (SupConLoss.__init__, 'tau', 'tau_supcon'), (positive_mask, 'rule', 'positives'),
            (positive_mask, 'jaccard_min', 'jaccard_min'), (ahnp_weights, 'strategy', 'ahnp'), (ahnp_weights, 'k', 'ahnp_k'),
            (ahnp_weights, 'alpha', 'ahnp_alpha')]
READERS += [(supcon_loss, k, k) for k in ('positives', 'jaccard_min', 'ahnp', 'ahnp_k', 'ahnp_alpha', 'beta')]
READERS += [(supcon_loss, k, f'supcon_{k}') for k in ('denominator', 'convention')]

def _method(path:str):
    v = METHOD
    for k in path.split('.'): v = getattr(v, k)
    return v

@pytest.mark.parametrize('fn, param, field', READERS, ids=[f"{f.__qualname__}.{p}" for f, p, _ in READERS])
def test_signature_defaults_are_the_settings(fn, param, field):
    assert inspect.signature(fn).parameters[param].default == _method(field)

def test_config_defaults_are_the_settings():
    p = Pretrain()
    assert set(METHOD_SETTINGS) == set(METHOD.to_dict()) - {'tau_simclr'} and set(METHOD_SETTINGS) <= set(RunEntry().__dataclass_fields__)
    for k in METHOD_SETTINGS:
        if k != 'augment': assert getattr(p, k) == getattr(METHOD, k), k
    assert p.augment == AUGMENT_DEFAULTS == METHOD.augment.to_dict()
    assert Evaluate().n_boot == N_BOOT
    boots = [f for m in (xe, xr) for _, f in inspect.getmembers(m, inspect.isfunction)
             if f.__module__ == m.__name__ and inspect.signature(f).parameters.get('n_boot', inspect.Parameter('x', 1)).default
             is not inspect.Parameter.empty]
    assert len(boots) >= 11
    for f in boots: assert inspect.signature(f).parameters['n_boot'].default == N_BOOT, f.__name__

# A default written as a literal: `name: type = 0.07`, `name=0.07` or `x or 0.07`, for a setting's name or the short names
# the pieces use for it (tau, k, every). Booleans and words are caught by the signature tests above.
ALIASES = {'tau_nw': ('tau_nw', 'tau'), 'tau_clip': ('tau_clip', 'tau'), 'tau_simclr': ('tau',), 'lambda_nw': ('lambda_nw',),
           'k_support': ('k_support', 'k'), 'refresh_every': ('refresh_every', 'every'), 'n_boot': ('n_boot',),
           'tau_supcon': ('tau_supcon', 'tau'), 'jaccard_min': ('jaccard_min',), 'ahnp_k': ('ahnp_k', 'k'),
           'ahnp_alpha': ('ahnp_alpha', 'alpha'), 'beta': ('beta',)}

def literal_defaults(pkg:Path)->list:
    "Lines of the package (settings.py aside) that write one of the numeric method defaults as a literal."
    values = {k: getattr(METHOD, k) for k in ALIASES if k != 'n_boot'} | {'n_boot': N_BOOT}
    hits = []
    for f in sorted(pkg.glob('*.py')):
        if f.name in ('settings.py', '_modidx.py'): continue
        for i, line in enumerate(f.read_text().splitlines(), 1):
            code = line.split(' #')[0]
            for k, names in ALIASES.items():
                num = re.escape(repr(values[k])).replace(r'0\.', r'0?\.')
                lit = rf'(?<![\w.]){num}(?![\w.])'
                if re.search(rf"\b({'|'.join(names)})\s*(:[^=,()]*)?=\s*{lit}", code) or (
                        re.search(rf"\b({'|'.join(names)})\b", code) and re.search(rf"\bor\s+{lit}", code)):
                    hits.append(f"{f.name}:{i}: {line.strip()}")
    return list(dict.fromkeys(hits))                            # a line once, whichever settings it matches

def test_no_method_default_written_twice(tmp_path):
    assert literal_defaults(PKG) == []
    pkg = tmp_path/'xcardia'; pkg.mkdir()                       # the check finds a planted second definition
    for f in PKG.glob('*.py'): (pkg/f.name).write_text(f.read_text())
    (pkg/'nw.py').write_text((pkg/'nw.py').read_text() + "\ndef _planted(z, tau:float=0.1): return z / tau\n")
    (pkg/'predict.py').write_text((pkg/'predict.py').read_text() + "\ndef _planted(m): return m['tau_nw'] or .1\n")
    assert [h.split(':')[0] for h in literal_defaults(pkg)] == ['nw.py', 'predict.py']

def test_tau_nw_walks_from_yaml_to_the_head_and_the_bundle(tmp_path):
    "A `tau_nw` set in the YAML reaches the run's settings, the NW head of its Learner and the bundle, typed all the way."
    from xcardia.core import set_seed, TARGET_NAMES
    from xcardia.synthetic import make_cohort
    from xcardia.matching import match_exams, split_patients
    from xcardia.data import make_dls
    from xcardia.finetune import FineTuneModel
    from xcardia.encoders import ImageEncoder
    from xcardia.predict import save_bundle, load_bundle
    from xcardia.train import fit_cosine
    cfg = load_config({'out': str(tmp_path/'o'), 'preset': 'tiny', 'data': {'ct': 'a', 'echo': 'b'}, 'pretrain': {'tau_nw': 0.03}},
                      base=tmp_path, check_files=False)
    run = cfg.plan.pretrain_run('nw_mmcl')
    assert isinstance(run.settings, MethodSettings) and run.settings.tau_nw == 0.03
    set_seed(0)
    paths = make_cohort(tmp_path/'cohort', n_patients=16, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        cohort, _ = match_exams(paths['ct'], paths['echo'], paths['ecg'])
    cohort['split'] = split_patients(cohort, seed=0)
    dls = make_dls(cohort, kind='paired', preset='tiny', cache_dir=tmp_path/'cache', bs=4)
    learn = pretrain_learner(dls, run.variant, run.settings, path=tmp_path/'pre')
    assert learn.model.head.tau == 0.03 and learn.spec.settings == run.settings
    assert pretrain_learner(dls, run.variant, run.settings, tau_nw=0.2, path=tmp_path/'pre2').model.head.tau == 0.2   # a keyword wins
    with learn.no_bar(), learn.no_logging(): fit_cosine(learn, 1)          # the support bank is built in the fit
    ft = FineTuneModel(ImageEncoder.from_preset(learn.spec.preset), len(TARGET_NAMES))
    ids = learn.model.head.support_ids.cpu().numpy()
    support = cohort.loc[ids, ['study_id', 'image_path']].rename_axis('idx').reset_index()
    b = save_bundle(tmp_path/'bundle', ft, [.5] * len(TARGET_NAMES), learn.spec.preset, pretrained=learn.model.cpu(),
                    support=support, tab_preprocessor=dls.tab_preprocessor, settings=learn.spec.settings)
    stored = json.loads((b/'bundle.json').read_text())['pretrained']['settings']
    assert method_settings(stored) == run.settings
    assert load_bundle(b, device='cpu').pretrained.head.tau == 0.03
