"""Every bad value of a group named on one line, before anything runs."""

import pytest

from vaeglow_jax.config import checks, schema


def test_every_bad_eval_value_is_named_in_one_line():
  e = schema.defaults().eval
  checks.check_eval(e)  # the defaults pass
  e.iw_samples, e.batch_size, e.temperatures = 0, -1, (0.5, float('nan'))
  with pytest.raises(checks.ConfigError) as error:
    checks.check_eval(e)
  message = str(error.value)
  assert '\n' not in message
  for part in ('eval.iw_samples must be positive, got 0', 'eval.batch_size must be positive, got -1',
               'eval.temperatures must be finite and >= 0, got [0.5, nan]'):
    assert part in message, message
  e = schema.defaults().eval
  e.num_fid_samples = 1
  with pytest.raises(checks.ConfigError, match='num_fid_samples must be at least 2'):
    checks.check_eval(e)


def test_every_bad_feature_extractor_value_is_named_in_one_line():
  fe = schema.defaults().feature_extractor
  checks.check_feature_extractor(fe)
  fe.learning_rate, fe.arch = float('nan'), 'resnet'
  with pytest.raises(checks.ConfigError) as error:
    checks.check_feature_extractor(fe)
  assert str(error.value) == ("feature_extractor.learning_rate must be positive, got nan; "
                              "feature_extractor.arch must be one of strided, pooled, got 'resnet'.")


@pytest.mark.parametrize('name', ['fashion_mnist', 'fashion_mnist:quick', 'fashion_mnist:smoke',
                                  'fashion_mnist:tiny', 'cifar10', 'celeba', 'mnist'])
def test_every_preset_passes_the_checks_in_every_phase(name):
  import importlib
  from vaeglow_jax import data as data_lib, phases
  module, _, preset = name.partition(':')
  config = importlib.import_module(f'vaeglow_jax.presets.{module}').get_config(
      *([preset] if preset else []))
  for phase in phases.PHASES:
    config.phase = phase
    assert checks.validate_config(config) == data_lib.image_shape(config.data)


def test_a_flow_step_naming_an_unknown_layer_is_refused_with_the_known_ones():
  from vaeglow_jax.presets import fashion_mnist
  config = fashion_mnist.get_config('quick')
  config.phase = 'glow'
  config.model.glow.layers = ('actnorm', 'invconv1x1', 'coupling')
  with pytest.raises(checks.ConfigError, match=r"model\.glow\.layers: unknown 'invconv1x1'; "
                                               r"choose from actnorm, invconv, coupling\.$"):
    checks.validate_config(config)


def test_an_unknown_prior_kind_is_one_line_before_anything_runs():
  from tests.configs import tiny
  config = tiny.get_config()
  config.model.prior.kind = 'maff'
  with pytest.raises(checks.ConfigError, match=r"model.prior.kind must be one of \['standard', "
                     r"'flow', 'maf'\], got 'maff'"):
    checks.validate_config(config)


@pytest.mark.parametrize('key, value, message', [
    ('variance', 'diagonl', r"model.variance must be one of \['fixed', 'gamma', 'diagonal'\], "
                            r"got 'diagonl'"),
    ('norm', 'batch', r"model.norm must be one of \['group', 'none'\], got 'batch'"),
])
def test_every_model_choice_key_is_checked_before_anything_runs(key, value, message):
  """A typo in a choice key is one line from validate_config, not an error while tracing."""
  from tests.configs import tiny
  config = tiny.get_config()
  config.model[key] = value
  with pytest.raises(checks.ConfigError, match=message):
    checks.validate_config(config)
