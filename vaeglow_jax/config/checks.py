"""Config values checked before anything runs: one line naming every bad value, and the image
shape the data gives, checked against the model. `validate_config` serves training, evaluation
and sampling; `check_eval` the eval group; `check_feature_extractor` the FID classifier's."""

from __future__ import annotations

import math

from vaeglow_jax import data as data_lib
from vaeglow_jax import flows
from vaeglow_jax import phases
from vaeglow_jax.errors import UserError
from vaeglow_jax.flows import registry
from vaeglow_jax.layers import conv as conv_lib
from vaeglow_jax.models import build as build_lib
from vaeglow_jax.models import classifier as classifier_lib
from vaeglow_jax.models import prior as prior_lib
from vaeglow_jax.models import vae as vae_lib


class ConfigError(UserError, ValueError):
  """A config value that cannot work; the message names it and the allowed values."""


def validate_config(config) -> tuple[int, int, int]:
  """Rejects bad values with one clear line; returns the image shape (H, W, C)."""
  problems = []
  if config.phase not in phases.SPECS:
    problems.append(f'phase {config.phase!r} is unknown; choose one of {list(phases.SPECS)}')
  if not 1 <= config.data.n_bits <= 8:
    problems.append(f'data.n_bits must be in 1..8, got {config.data.n_bits}')
  if not 0 < config.learning_rate < math.inf:  # NaN fails this too
    problems.append(f'learning_rate must be positive, got {config.learning_rate}')
  if config.lr_halve_every_steps < 0:
    problems.append(f'lr_halve_every_steps must be >= 0 (0: lr_halve_every_epochs), got '
                    f'{config.lr_halve_every_steps}')
  if (0 < config.learning_rate < math.inf
      and not 0 <= config.min_learning_rate <= config.learning_rate):
    problems.append(f'min_learning_rate must be in [0, learning_rate={config.learning_rate}], '
                    f'got {config.min_learning_rate}')
  if config.batch_size <= 0:
    problems.append(f'batch_size must be positive, got {config.batch_size}')
  if config.num_train_steps <= 0 and config.num_epochs <= 0:
    problems.append(f'num_train_steps ({config.num_train_steps}) or num_epochs '
                    f'({config.num_epochs}) must be positive')
  for key in ('checkpoint_every_steps', 'log_every_steps', 'sample_every_steps'):
    if config[key] <= 0:
      problems.append(f'{key} must be positive, got {config[key]}')
  if not 0 <= config.max_train_seconds < math.inf:
    problems.append(f'max_train_seconds must be >= 0 (0: no limit), got {config.max_train_seconds}')
  if config.keep_checkpoints < 1:  # Orbax keeps none at 0: a run would lose every checkpoint
    problems.append(f'keep_checkpoints must be >= 1, got {config.keep_checkpoints}')
  if not 0 < config.lock_stale_seconds < math.inf:
    problems.append(f'lock_stale_seconds must be positive, got {config.lock_stale_seconds}')
  if config.data.resize < 0:
    problems.append(f'data.resize must be >= 0 (0: the native size), got {config.data.resize}')
  for key in ('latent_dim', 'base_channels', 'num_scales'):
    if config.model[key] < 1:
      problems.append(f'model.{key} must be positive, got {config.model[key]}')
  if not 0 <= config.sampling.temperature < float('inf'):  # NaN fails too
    problems.append(f'sampling.temperature must be finite and >= 0, got '
                    f'{config.sampling.temperature}')
  if config.on_damaged_checkpoint not in ('fall_back', 'stop'):
    problems.append(f"on_damaged_checkpoint must be 'fall_back' or 'stop', got "
                    f'{config.on_damaged_checkpoint!r}')
  if config.nonfinite not in ('skip', 'stop'):
    problems.append(f"nonfinite must be 'skip' or 'stop', got {config.nonfinite!r}")
  for name in phases.FLOW_GROUPS:  # coupling, mask, conv_impl, net_dtype
    problems += [f'model.{name}.{p}' for p in flows.options.problems(config.model[name].to_dict())]
    problems += [f'model.{name}.{p}' for p in registry.problems(config.model[name].layers)]
  if config.model.glow.mixing not in flows.MIXINGS:
    problems.append(f'model.glow.mixing must be one of {flows.MIXINGS}, '
                    f'got {config.model.glow.mixing!r}')
  if config.model.conv_impl not in conv_lib.TRANSPOSE_IMPLS:
    problems.append(f'model.conv_impl must be one of {conv_lib.TRANSPOSE_IMPLS}, '
                    f'got {config.model.conv_impl!r}')
  if config.model.variance not in vae_lib.VARIANCE_MODES:
    problems.append(f'model.variance must be one of {list(vae_lib.VARIANCE_MODES)}, '
                    f'got {config.model.variance!r}')
  if config.model.get('norm', 'group') not in vae_lib.NORMS:
    problems.append(f"model.norm must be one of {list(vae_lib.NORMS)}, got {config.model.norm!r}")
  if config.model.prior.kind not in prior_lib.PRIOR_KINDS:
    problems.append(f'model.prior.kind must be one of {list(prior_lib.PRIOR_KINDS)}, '
                    f'got {config.model.prior.kind!r}')
  gamma = config.model.gamma
  if gamma['update'] not in build_lib.GAMMA_UPDATES:
    problems.append(f'model.gamma.update must be one of {build_lib.GAMMA_UPDATES}, '
                    f"got {gamma['update']!r}")
  if gamma['learning_rate'] < 0:
    problems.append(f'model.gamma.learning_rate must be >= 0 (0: the shared schedule), '
                    f"got {gamma['learning_rate']}")
  if problems:
    raise ConfigError('; '.join(problems) + '.')
  shape = data_lib.image_shape(config.data)
  _check_shapes(config, shape)
  return shape


def _check_shapes(config, shape) -> None:
  height, width, channels = shape
  glow, base = config.model.glow, config.model.baseline
  uses_glow = phases.get_spec(config.phase).use_glow
  if uses_glow:
    factor = 2 ** glow.num_squeezes
    if height % factor or width % factor:
      raise ConfigError(f'image shape {shape} does not fit model.glow.num_squeezes='
                          f'{glow.num_squeezes}: H and W must be divisible by {factor}.')
    if glow.mask == 'channel' and channels * factor * factor < 2:
      raise ConfigError(f'image shape {shape} has 1 channel: set model.glow.num_squeezes=1 or '
                          "model.glow.mask='checkerboard'.")
  if phases.get_spec(config.phase).task == phases.PIXEL_FLOW:
    factor = 2 ** base.levels
    if height % factor or width % factor:
      raise ConfigError(f'image shape {shape} does not fit model.baseline.levels={base.levels}: '
                          f'H and W must be divisible by {factor} (use fewer levels or data.resize).')


def check_eval(eval_config) -> None:
  """The eval group's values (experiments.evaluate, experiments.sample)."""
  e = eval_config
  problems = []
  if not all(0 <= float(t) < float('inf') for t in e.temperatures):  # NaN fails too
    problems.append(f'eval.temperatures must be finite and >= 0, got '
                    f'{[float(t) for t in e.temperatures]}')
  problems += [f'eval.{key} must be positive, got {e[key]}'
               for key in ('batch_size', 'iw_samples', 'num_fid_samples') if e[key] <= 0]
  if e.num_fid_samples == 1:
    problems.append('eval.num_fid_samples must be at least 2 (a covariance needs two)')
  if e.get('prior_phase', '') not in ('', *phases.PRIOR_KEYS):
    problems.append(f"eval.prior_phase must be '' (the phase's own prior) or one of "
                    f'{", ".join(phases.PRIOR_KEYS)}, got {e.prior_phase!r}')
  if problems:
    raise ConfigError('; '.join(problems) + '.')


def check_feature_extractor(fe_config) -> None:
  """The feature_extractor group's values (experiments.train_feature_extractor)."""
  problems = [f'feature_extractor.{key} must be positive, got {fe_config[key]}'
              for key in ('num_steps', 'batch_size', 'learning_rate') if not fe_config[key] > 0]
  if fe_config.get('arch', 'strided') not in classifier_lib.ARCHS:
    problems.append(f'feature_extractor.arch must be one of {", ".join(classifier_lib.ARCHS)}, '
                    f'got {fe_config.arch!r}')
  if problems:
    raise ConfigError('; '.join(problems) + '.')
