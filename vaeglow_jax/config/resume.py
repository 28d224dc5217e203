"""What may differ from a saved config.json: a resumed phase must keep its model and data, a
phase 2 those of its phase 1, and a resumed run cannot be past its own end."""

from __future__ import annotations

import json

from flax import traverse_util

from vaeglow_jax import phases
from vaeglow_jax.config.checks import ConfigError
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.io import workdir as workdir_lib


# The group of model.* keys that shape the encoder and decoder (model.variance, .latent_dim, ...).
ENCODER_DECODER = 'encoder+decoder'
# Model keys that change how a step is computed, not what the parameters are.
_COMPUTE_ONLY = ('unroll', 'remat', 'conv_impl', 'net_dtype')
_DATA_KEYS = ('data.name', 'data.folder', 'data.resize', 'data.n_bits')


def _model_group(flat_key: str) -> str | None:
  """The parameter key a flattened 'model.*' key shapes (its config group, e.g. 'prior'), or
  ENCODER_DECODER for the VAE's own keys; None for keys that shape no parameter."""
  parts = flat_key.split('.')
  if parts[-1] in _COMPUTE_ONLY or parts[1] == 'gamma':  # gamma.*: how it is trained
    return None
  return parts[1] if parts[1] in phases.PARAMETER_KEYS else ENCODER_DECODER


def config_differences(config, saved: dict, groups: set[str]) -> list[tuple[str, object, object]]:
  """[(key, requested value, saved value)] for the data keys and the model keys of `groups`
  (parameter keys, ENCODER_DECODER for both) where config differs from a saved config.json
  (nested dicts). Keys the saved config lacks (added to the code since) are skipped."""
  current = traverse_util.flatten_dict(json.loads(config.to_json_best_effort()), sep='.')
  old = traverse_util.flatten_dict(saved, sep='.')
  out = []
  for key, value in current.items():
    if key not in old or old[key] == value:
      continue
    if key in _DATA_KEYS or (key.startswith('model.') and _model_group(key) in groups):
      out.append((key, value, old[key]))
  return out


def _groups(keys) -> set[str]:
  return {ENCODER_DECODER if k in ('encoder', 'decoder') else k for k in keys}


def _describe_differences(differences) -> str:
  shown = differences[:3]
  more = f' (and {len(differences) - 3} more)' if len(differences) > 3 else ''
  return ', '.join(f'{k}={v!r} (trained with {s!r})' for k, v, s in shown) + more


def check_resume_config(config, workdir: str) -> None:
  """A rerun of a phase that has a checkpoint resumes it: its model and data must be those of
  DIR/<phase>/config.json, checked before Orbax reads anything."""
  if not workdir_lib.has_checkpoint(workdir_lib.checkpoints_dir(workdir, config.phase)):
    return
  if not files_lib.is_file(workdir_lib.config_path(workdir, config.phase)):
    return
  spec = phases.get_spec(config.phase)
  differences = config_differences(config, workdir_lib.saved_config(workdir, config.phase),
                                   _groups(spec.trainable + spec.from_stage1))
  if differences:
    raise ConfigError(
        f'{workdir_lib.phase_dir(workdir, config.phase)} has a checkpoint of another configuration: '
        f'{_describe_differences(differences)}; to resume, drop those overrides; to start a new '
        'run, give a new --workdir.')


def check_not_past_the_end(config, workdir: str, num_steps: int) -> None:
  """A rerun resumes from the latest checkpoint: one beyond `num_steps` cannot be trained back to
  it, and its config.json must keep describing the checkpoints beside it."""
  steps = workdir_lib.finished_steps(workdir_lib.checkpoints_dir(workdir, config.phase))
  if steps and steps[-1] > num_steps:
    raise ConfigError(
        f'{workdir_lib.phase_dir(workdir, config.phase)} is already at step {steps[-1]}, past '
        f'num_train_steps={num_steps}; to train on, give --config.num_train_steps above '
        f'{steps[-1]}; for a shorter run, give a new --workdir.')


def check_stage1_config(config, workdir: str) -> None:
  """Phase 2 restores phase 1's parameters: the model keys behind them (and the data) must be
  those phase 1 was trained with (its config.json)."""
  spec = phases.get_spec(config.phase)
  stage1 = config.stage1_workdir or workdir
  if not spec.stage1 or not files_lib.is_file(workdir_lib.config_path(stage1, spec.stage1)):
    return
  path = workdir_lib.config_path(stage1, spec.stage1)
  differences = config_differences(config, workdir_lib.saved_config(stage1, spec.stage1),
                                   _groups(spec.from_stage1))
  if differences:
    raise ConfigError(f'phase {config.phase!r} must use the model of its phase 1 ({path}): '
                        f'{_describe_differences(differences)}; pass the phase-1 values.')
