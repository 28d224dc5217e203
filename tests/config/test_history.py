"""A trained run's config rebuilt from its config.json: the values it was trained with, the
history of keys added since, launch keys never read back, and the keys an evaluation may set."""

import json
import os

import pytest
from flax import traverse_util

from vaeglow_jax.presets import fashion_mnist, from_workdir
from vaeglow_jax.io import workdir
from vaeglow_jax.config import history
from vaeglow_jax.errors import WorkdirError


def _trained(tmp_path, phase='glow'):
  """A work directory with config.json written as the trainer writes it."""
  config = fashion_mnist.get_config('quick')
  config.phase = phase
  config.model.glow.hidden = 48
  config.model.glow.mixing = 'reverse'
  config.eval.temperatures = (0.0, 0.7)
  config.learning_rate = 3e-4
  os.makedirs(workdir.phase_dir(str(tmp_path), phase))
  with open(workdir.config_path(str(tmp_path), phase), 'w') as f:
    f.write(config.to_json_best_effort(indent=2))
  return config


def test_trained_config_is_the_config_that_was_trained(tmp_path):
  config = _trained(tmp_path)
  loaded = history.trained_config(str(tmp_path), 'glow', from_workdir.get_config())
  assert loaded.to_dict() == config.to_dict()
  assert isinstance(loaded.eval.temperatures, tuple) and loaded.model.glow.hidden == 48
  # Without a base: the schema's defaults (the library loads a run without experiments/).
  assert history.trained_config(str(tmp_path), 'glow').to_dict() == config.to_dict()


def test_keys_newer_than_the_run_keep_their_defaults_and_removed_keys_are_dropped(tmp_path):
  _trained(tmp_path)
  path = workdir.config_path(str(tmp_path), 'glow')
  with open(path) as f:
    saved = json.load(f)
  del saved['model']['gamma']          # a run from before model.gamma existed
  saved['model']['retired_knob'] = 3   # a key this code no longer has
  with open(path, 'w') as f:
    json.dump(saved, f)
  base = from_workdir.get_config()
  loaded = history.trained_config(str(tmp_path), 'glow', base)
  assert loaded.model.gamma.to_dict() == base.model.gamma.to_dict()
  assert 'retired_knob' not in loaded.model and loaded.model.glow.hidden == 48


@pytest.mark.parametrize('key,then', [
    ('model.glow.mixing', 'none'),  # today 'shuffle'; runs before it had no mixing
    ('model.conv_impl', 'xla'),  # today 'auto' (sub-pixel on CPU); before, nn.ConvTranspose's
])
def test_a_run_from_before_a_key_existed_is_rebuilt_as_it_was_trained(tmp_path, key, then):
  # A rebuilt model must compute what the trained one computed, whatever today's default is.
  _trained(tmp_path)
  path = workdir.config_path(str(tmp_path), 'glow')
  with open(path) as f:
    saved = json.load(f)
  base = from_workdir.get_config()
  value = lambda config: traverse_util.flatten_dict(config.to_dict(), sep='.')[key]  # noqa: E731
  trained = lambda: value(history.trained_config(str(tmp_path), 'glow', base))  # noqa: E731
  assert value(base) != then == history.LEGACY_VALUES[key]
  *groups, name = key.split('.')
  saved_group = saved
  for group in groups:
    saved_group = saved_group[group]
  assert trained() == saved_group[name]  # a saved value always wins
  del saved_group[name]
  with open(path, 'w') as f:
    json.dump(saved, f)
  assert trained() == then


def test_the_launch_of_a_multi_process_run_is_not_read_back(tmp_path):
  """A 2-process training run saved its coordinator and process id; an evaluation is launched
  anew (here as one process), so they keep the defaults, and may be set as overrides."""
  config = fashion_mnist.get_config('quick')
  config.phase = 'vae'
  config.multihost = True
  config.num_devices = 1  # e.g. trained on one device of two processes' four
  config.distributed.update(coordinator_address='10.0.0.7:4321', num_processes=2, process_id=1)
  os.makedirs(workdir.phase_dir(str(tmp_path), 'vae'))
  with open(workdir.config_path(str(tmp_path), 'vae'), 'w') as f:
    f.write(config.to_json_best_effort(indent=2))
  base = from_workdir.get_config()
  loaded = history.trained_config(str(tmp_path), 'vae', base)
  assert loaded.multihost is False and loaded.num_devices == base.num_devices == 0
  assert loaded.distributed.to_dict() == base.distributed.to_dict()
  assert loaded.model.to_dict() == config.model.to_dict()
  out = history.with_overrides(loaded, {'distributed.num_processes': 2, 'multihost': True})
  assert out.distributed.num_processes == 2 and out.multihost is True


def test_only_evaluation_keys_may_be_overridden(tmp_path):
  _trained(tmp_path)
  loaded = history.trained_config(str(tmp_path), 'glow', from_workdir.get_config())
  out = history.with_overrides(loaded, {'eval.iw_samples': 4, 'sampling.temperature': 0.3,
                                        'phase': 'glow'})
  assert out.eval.iw_samples == 4 and out.sampling.temperature == 0.3
  with pytest.raises(WorkdirError, match=r'--config.model.latent_dim cannot change at evaluation'):
    history.with_overrides(loaded, {'model.latent_dim': 3})


def test_missing_phase_is_one_clear_error(tmp_path):
  with pytest.raises(WorkdirError, match=r"no trained phase 'vae' in .*config.json is missing"):
    history.trained_config(str(tmp_path), 'vae', from_workdir.get_config())
