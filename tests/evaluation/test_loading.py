"""A trained phase's config checked before its checkpoint is read."""

import os

import pytest

from vaeglow_jax.config import schema
from vaeglow_jax.evaluation import loading


def _trained(tmp_path, config):
  os.makedirs(tmp_path / config.phase)
  (tmp_path / config.phase / 'config.json').write_text(config.to_json_best_effort())
  return str(tmp_path)


@pytest.mark.parametrize('key, value, message', [
    ('model.latent_dim', 8, r"model\.latent_dim is 8 but phase 'glow' was trained with 64: pass "
                            r'--config\.model\.latent_dim=64 \(evaluate with the training config\)\.'),
    ('model.glow.depth', 2, r'model\.glow\.depth is 2 .* with 32'),
    ('data.resize', 16, r'data\.resize is 16 .* with 0'),
])
def test_evaluating_with_other_parameters_or_data_is_refused(tmp_path, key, value, message):
  config = schema.defaults()
  config.phase = 'glow'
  workdir = _trained(tmp_path, config)
  group, name = key.rsplit('.', 1)
  target = config.model.glow if group == 'model.glow' else config[group.split('.')[0]]
  target[name] = value
  with pytest.raises(loading.EvaluationError, match=message):
    loading.check_config_matches(config, workdir)


def test_keys_that_only_change_how_a_step_is_computed_may_differ(tmp_path):
  config = schema.defaults()
  config.phase = 'glow'
  workdir = _trained(tmp_path, config)
  config.model.glow.unroll, config.model.conv_impl, config.model.glow.net_dtype = 2, 'xla', 'bfloat16'
  config.eval.iw_samples = 8
  loading.check_config_matches(config, workdir)
