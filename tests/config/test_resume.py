"""What may differ from a saved config.json when a phase resumes or restores its phase 1."""

import json
import os

import pytest

from vaeglow_jax.config import checks, resume, schema


def _config(phase='vae', **overrides):
  config = schema.defaults()
  config.phase = phase
  for key, value in overrides.items():
    *groups, name = key.split('.')
    group = config
    for part in groups:
      group = group[part]
    group[name] = value
  return config


def _save(workdir, phase, config, checkpoint_steps=()):
  """WORKDIR/<phase>/config.json as training writes it, and empty finished step folders."""
  os.makedirs(os.path.join(workdir, phase, 'checkpoints'), exist_ok=True)
  with open(os.path.join(workdir, phase, 'config.json'), 'w') as f:
    f.write(config.to_json_best_effort())
  for step in checkpoint_steps:
    os.makedirs(os.path.join(workdir, phase, 'checkpoints', str(step)))


def _saved(config) -> dict:
  return json.loads(config.to_json_best_effort())


def test_each_model_key_belongs_to_the_parameters_it_shapes():
  saved = _saved(_config())
  changed = _config(**{'model.latent_dim': 8, 'model.prior.hidden': 16, 'model.glow.depth': 2,
                       'model.baseline.levels': 2, 'model.second_stage.width': 4})
  every = {resume.ENCODER_DECODER, 'prior', 'glow', 'baseline', 'second_stage'}
  assert {k for k, _, _ in resume.config_differences(changed, saved, every)} == {
      'model.latent_dim', 'model.prior.hidden', 'model.glow.depth', 'model.baseline.levels',
      'model.second_stage.width'}
  assert resume.config_differences(changed, saved, {'prior'}) == [('model.prior.hidden', 16, 1024)]
  assert resume.config_differences(changed, saved, {resume.ENCODER_DECODER}) == [
      ('model.latent_dim', 8, 64)]
  assert resume.config_differences(changed, saved, set()) == []


def test_compute_only_keys_gamma_training_and_new_keys_may_differ_but_data_may_not():
  saved = _saved(_config())
  every = {resume.ENCODER_DECODER, 'prior', 'glow', 'baseline', 'second_stage'}
  compute_only = _config(**{'model.prior.unroll': 1, 'model.glow.remat': True,
                            'model.conv_impl': 'xla', 'model.baseline.net_dtype': 'bfloat16',
                            'model.gamma.update': 'gradient', 'learning_rate': 1.0})
  assert resume.config_differences(compute_only, saved, every) == []
  del saved['model']['fc_dim']  # a key added to the code after the run was saved
  assert resume.config_differences(_config(**{'model.fc_dim': 3}), saved, every) == []
  assert resume.config_differences(_config(**{'data.resize': 16}), saved, set()) == [
      ('data.resize', 16, 0)]


def test_a_resumed_phase_must_keep_its_model_only_once_it_has_a_checkpoint(tmp_path):
  workdir = str(tmp_path)
  _save(workdir, 'vae', _config())
  other = _config(**{'model.latent_dim': 8})
  resume.check_resume_config(other, workdir)  # config.json but no checkpoint: a fresh start
  _save(workdir, 'vae', _config(), checkpoint_steps=(100,))
  with pytest.raises(checks.ConfigError, match=r'has a checkpoint of another configuration: '
                     r'model\.latent_dim=8 \(trained with 64\); .*new --workdir\.$'):
    resume.check_resume_config(other, workdir)
  # A phase's check covers the keys of what it trains and restores: 'vae' has no Glow layer.
  resume.check_resume_config(_config(**{'model.glow.depth': 2}), workdir)


def test_many_differences_are_named_three_and_counted(tmp_path):
  workdir = str(tmp_path)
  _save(workdir, 'vae', _config(), checkpoint_steps=(5,))
  other = _config(**{'model.latent_dim': 8, 'model.fc_dim': 3, 'model.base_channels': 4,
                     'model.num_scales': 2, 'model.prior.hidden': 16})
  with pytest.raises(checks.ConfigError, match=r'\(and 2 more\)'):
    resume.check_resume_config(other, workdir)


def test_a_run_past_its_new_end_is_refused(tmp_path):
  workdir = str(tmp_path)
  _save(workdir, 'vae', _config(), checkpoint_steps=(50, 100))
  resume.check_not_past_the_end(_config(), workdir, num_steps=100)
  with pytest.raises(checks.ConfigError, match=r'already at step 100, past num_train_steps=60'):
    resume.check_not_past_the_end(_config(), workdir, num_steps=60)


def test_phase2_must_use_its_phase1_model_but_may_change_what_it_trains(tmp_path):
  stage1 = str(tmp_path / 'stage1')
  _save(stage1, 'vae', _config(), checkpoint_steps=(10,))
  # The post-hoc prior trains a new prior: its kind may differ from phase 1's.
  resume.check_stage1_config(_config('prior', stage1_workdir=stage1,
                                     **{'model.prior.kind': 'maf'}), str(tmp_path / 'run'))
  with pytest.raises(checks.ConfigError, match=r"phase 'prior' must use the model of its phase 1 "
                     r'\(.*stage1/vae/config\.json\): model\.norm=\'none\' \(trained with '
                     r"'group'\); pass the phase-1 values\."):
    resume.check_stage1_config(_config('prior', stage1_workdir=stage1, **{'model.norm': 'none'}),
                               str(tmp_path / 'run'))
  # The Glow layer's phase restores the prior too.
  with pytest.raises(checks.ConfigError, match=r'model\.prior\.hidden=16'):
    resume.check_stage1_config(_config('glow', **{'model.prior.hidden': 16}), stage1)
  resume.check_stage1_config(_config('vae', **{'model.norm': 'none'}), stage1)  # no phase 1
