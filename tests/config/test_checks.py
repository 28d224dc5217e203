"""Every bad value of a group named on one line, before anything runs."""

import pytest
from flax import traverse_util

from tests.helpers import train_config
from vaeglow_jax.config import checks, schema
from vaeglow_jax.data import DataError
from vaeglow_jax.errors import UserError
from vaeglow_jax.training import trainer

# The string keys that name a path, a split or an address, not one of a set of choices.
FREE_TEXT_KEYS = {'stage1_workdir', 'data.data_dir', 'data.cache_dir', 'data.folder',
                  'data.train_split', 'data.validation_split', 'distributed.coordinator_address',
                  'eval.feature_extractor_dir', 'eval.feature_extractor_dir_2',
                  'eval.inception_weights'}


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


@pytest.mark.parametrize('key,value,message', [
    ('data.n_bits', 0, 'n_bits must be in 1..8'),
    ('data.n_bits', 9, 'n_bits must be in 1..8'),
    ('learning_rate', 0.0, 'learning_rate must be positive'),
    ('learning_rate', -1e-3, 'learning_rate must be positive'),
    ('num_train_steps', 0, 'must be positive'),
    ('batch_size', -8, 'batch_size must be positive'),
    ('sampling.temperature', -0.5, 'temperature must be finite and >= 0'),
    ('data.name', 'imagenet', "unknown dataset 'imagenet'"),
    ('phase', 'finetune', "phase 'finetune' is unknown"),
    ('model.glow.conv_impl', 'fast', 'model.glow.conv_impl must be one of'),
    ('model.baseline.net_dtype', 'float16', 'model.baseline.net_dtype must be one of'),
    ('model.glow.coupling', 'multiplicative', r"model.glow.coupling must be one of \('additive', 'affine'\)"),
    ('model.glow.mask', 'stripes', 'model.glow.mask must be one of'),
    ('learning_rate', float('nan'), 'learning_rate must be positive, got nan'),
    ('max_train_seconds', float('nan'), 'max_train_seconds must be >= 0'),
    ('keep_checkpoints', 0, 'keep_checkpoints must be >= 1, got 0'),
    ('lock_stale_seconds', -1.0, 'lock_stale_seconds must be positive'),
    ('data.resize', -3, r'data.resize must be >= 0 \(0: the native size\), got -3'),
    ('model.latent_dim', 0, 'model.latent_dim must be positive, got 0'),
])
def test_bad_values_are_one_clear_error_and_nothing_is_written(tmp_path, key, value, message):
  config = train_config(value) if key == 'phase' else train_config('vae', **{key: value})
  if key == 'num_train_steps':
    config.num_epochs = 0
  with pytest.raises((checks.ConfigError, DataError), match=message):
    trainer.train_and_evaluate(config, str(tmp_path))
  assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('overrides,message', [
    ({'phase': 'glow_baseline', 'model.baseline.levels': 4}, 'does not fit model.baseline.levels=4'),
    ({'phase': 'joint', 'model.glow.num_squeezes': 4}, 'does not fit model.glow.num_squeezes=4'),
    ({'phase': 'joint', 'model.glow.num_squeezes': 0}, 'has 1 channel'),
])
def test_image_shape_that_does_not_fit_the_model(tmp_path, overrides, message):
  with pytest.raises(checks.ConfigError, match=message):
    trainer.train_and_evaluate(train_config(**overrides), str(tmp_path))
  assert list(tmp_path.iterdir()) == []


def _check_everything(config):
  checks.validate_config(config)
  checks.check_eval(config.eval)
  checks.check_feature_extractor(config.feature_extractor)


def _choice_keys():
  flat = traverse_util.flatten_dict(schema.defaults().to_dict(), sep='.')
  return sorted(key for key, value in flat.items()
                if isinstance(value, str) and key not in FREE_TEXT_KEYS)


def test_the_choice_keys_include_those_a_typo_used_to_reach_tracing_with():
  # A new string key lands in FREE_TEXT_KEYS or here, so the test below sees it.
  for key in ('model.prior.kind', 'model.conv_impl', 'model.variance', 'model.norm',
              'model.gamma.update', 'eval.prior_phase', 'feature_extractor.arch'):
    assert key in _choice_keys(), key


@pytest.mark.parametrize('key', _choice_keys())
def test_every_choice_key_is_checked_up_front_in_one_line(key):
  """A misspelt choice anywhere in the config is a user error naming the key, before anything
  is traced."""
  from tests.configs import tiny
  config = tiny.get_config()
  _check_everything(config)  # the preset passes
  *groups, name = key.split('.')
  group = config
  for part in groups:
    group = group[part]
  group[name] = 'no_such_choice'
  with pytest.raises(UserError) as error:
    _check_everything(config)
  message = str(error.value)
  assert '\n' not in message and "'no_such_choice'" in message, message
  assert (key if key != 'phase' else "phase 'no_such_choice'") in message or key == 'data.name', message
