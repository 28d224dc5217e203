"""Models built from config groups: every key of a group reaches the module it names."""

import dataclasses

import ml_collections
import pytest

from vaeglow_jax.config import schema
from vaeglow_jax.flows import StepOptions
from vaeglow_jax.models import build
from vaeglow_jax.models.prior import FlowPrior, MAFPrior, StandardPrior

# The fields a module takes from elsewhere than its own group, or leaves at its default.
NOT_FROM_GROUP = {'Encoder': set(), 'Decoder': {'image_shape', 'log_gamma_init'},
                  'GlowLayer': {'step'}, 'MultiScaleGlow': {'step'}, 'FlowPrior': set(),
                  'MAFPrior': set(), 'SecondStageVAE': {'latent_dim', 'log_gamma_init',
                                                         'min_log_gamma'},
                  'Classifier': {'num_classes'}}


def _changed_model_group():
  """A model group with no value at its default, so a key that fails to arrive shows."""
  m = schema.defaults().model
  m.update(dict(latent_dim=7, num_scales=2, base_channels=5, fc_dim=9, blocks_per_scale=2,
                norm='none', variance='fixed', fixed_log_std=-1.0, min_log_std=-5.0,
                conv_impl='xla'))
  m.gamma.init = 0.25
  m.prior.update(dict(kind='maf', num_layers=3, hidden=11, num_hidden=1, unroll=1))
  m.glow.update(dict(depth=3, num_squeezes=1, identity_init=False, mixing='reverse', remat=True,
                     unroll=2, hidden=12, coupling='affine', mask='checkerboard', lu=False,
                     conv_impl='xla', net_dtype='bfloat16', layers=('invconv', 'coupling')))
  m.baseline.update(dict(levels=2, depth=4, remat=True, unroll=3, hidden=13, coupling='additive',
                         lu=False, conv_impl='matmul', net_dtype='bfloat16', layers=('coupling',)))
  m.second_stage.update(dict(width=14, depth=2))
  return m


def _assert_takes_group(module, group):
  fields = {f.name for f in dataclasses.fields(module)} - {'parent', 'name'}
  name = type(module).__name__
  assert fields - set(group) == NOT_FROM_GROUP[name], name  # a new field needs a config key
  for field in fields & set(group):
    assert getattr(module, field) == group[field], (name, field)


def test_every_key_of_a_model_group_reaches_its_module():
  m = _changed_model_group()
  vae = build.vae(m, (8, 8, 1), with_glow=True)
  _assert_takes_group(vae.encoder, m)
  _assert_takes_group(vae.decoder, m)
  assert vae.decoder.image_shape == (8, 8, 1) and vae.decoder.log_gamma_init == 0.25
  _assert_takes_group(vae.prior, m.prior)
  assert isinstance(vae.prior, MAFPrior)
  _assert_takes_group(vae.glow, m.glow)
  assert vae.glow.step == StepOptions(hidden=12, coupling='affine', mask='checkerboard', lu=False,
                                      conv_impl='xla', net_dtype='bfloat16',
                                      layers=('invconv', 'coupling'))
  baseline = build.glow_baseline(m)
  _assert_takes_group(baseline, m.baseline)
  assert baseline.step == StepOptions(hidden=13, coupling='additive', lu=False,
                                      conv_impl='matmul', net_dtype='bfloat16', layers=('coupling',))
  second = build.second_stage(m)
  _assert_takes_group(second, m.second_stage)
  assert (second.latent_dim, second.log_gamma_init) == (7, 0.25)
  assert build.vae(m, (8, 8, 1), with_glow=False).glow is None


def test_the_schema_takes_its_defaults_from_the_modules():
  """A module's default changed in one place changes the config's; only the lines that set the
  experiments' own values differ."""
  m = schema.defaults().model
  vae = build.vae(m, (8, 8, 1), with_glow=True)
  assert vae.encoder == type(vae.encoder)()
  assert vae.prior == FlowPrior()
  assert dataclasses.replace(vae.decoder, variance='gamma') == type(vae.decoder)((8, 8, 1))
  assert m.variance == 'diagonal' and (m.glow.mixing, m.glow.hidden) == ('shuffle', 256)
  assert build.glow_baseline(m) == type(build.glow_baseline(m))()


def test_build_prior_makes_each_kind_and_names_a_bad_one():
  config = {'kind': 'maf', 'num_layers': 2, 'hidden': 8, 'num_hidden': 1, 'unroll': 0}
  assert isinstance(build.prior(config), MAFPrior)
  assert isinstance(build.prior({**config, 'kind': 'flow'}), FlowPrior)
  assert not isinstance(build.prior({**config, 'kind': 'flow'}), MAFPrior)
  assert isinstance(build.prior({**config, 'kind': 'standard'}), StandardPrior)
  with pytest.raises(ValueError, match="model.prior.kind must be one of .*'maf'.*got 'iaf'"):
    build.prior({**config, 'kind': 'iaf'})


def test_the_classifier_takes_its_group_and_an_old_group_without_arch_its_default():
  fe = schema.defaults().feature_extractor
  fe.update(dict(widths=(8, 16), feature_dim=12, arch="pooled"))
  model = build.classifier(fe, num_classes=7)
  _assert_takes_group(model, fe)
  assert model.widths == (8, 16) and model.num_classes == 7
  old = {'widths': [8], 'feature_dim': 4}  # saved before `arch` existed
  assert build.classifier(ml_collections.ConfigDict(old), 3).arch == 'strided'
