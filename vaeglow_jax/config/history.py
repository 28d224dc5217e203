"""A trained run's config, rebuilt from its config.json: the history of the schema's keys,
the launch keys never read back, and what an evaluation may override."""

from __future__ import annotations

import ml_collections
from flax import traverse_util

from vaeglow_jax.config import schema
from vaeglow_jax.errors import WorkdirError
from vaeglow_jax.io import workdir as workdir_lib

# How a run was launched (processes, coordinator, devices): never read back from config.json,
# since an evaluation is launched anew. A training run's num_devices=1 read back into a
# two-process sampling left process 1 without a device (a crash there, a 5-minute barrier
# time-out on process 0).
LAUNCH_KEYS = ('multihost', 'distributed', 'num_devices')
# Keys added to the code after runs were trained whose default is not how those runs behaved:
# the value that reproduces them. Every other key added since takes today's default, which
# reproduces the older runs (e.g. model.gamma, model.*.unroll); this is the only place that
# knows the history of the config (trained_config).
LEGACY_VALUES = {
    'model.glow.mixing': 'none',  # the Glow layer's steps had no channel mixing before it existed
    # The decoder's upsampling was nn.ConvTranspose's own computation before model.conv_impl
    # existed; 'auto' now picks the sub-pixel form on CPU (the same map, other float rounding).
    'model.conv_impl': 'xla',
}
# Keys an evaluation may change without retraining; everything else comes from config.json.
EVALUATION_KEYS = ('phase', 'eval', 'sampling', 'stage1_workdir') + LAUNCH_KEYS


def trained_config(workdir: str, phase: str,
                   base: ml_collections.ConfigDict | None = None) -> ml_collections.ConfigDict:
  """The config `phase` was trained with (WORKDIR/<phase>/config.json), as a ConfigDict
  shaped like `base`: keys added to the code since the run take LEGACY_VALUES' value if
  listed there, base's otherwise; keys
  the code no longer has are dropped, and JSON lists become tuples where base has tuples.
  The launch settings (LAUNCH_KEYS) keep base's values."""
  saved = traverse_util.flatten_dict(workdir_lib.saved_config(workdir, phase), sep='.')
  config = (schema.defaults() if base is None else base).copy_and_resolve_references()
  defaults = traverse_util.flatten_dict(config.to_dict(), sep='.')
  for key, value in LEGACY_VALUES.items():
    if key in defaults and key not in saved:
      _set(config, key, value)
  for key, value in saved.items():
    if key not in defaults or key.split('.')[0] in LAUNCH_KEYS:
      continue
    if isinstance(defaults[key], tuple) and isinstance(value, list):
      value = tuple(value)
    elif isinstance(defaults[key], float) and isinstance(value, int) and not isinstance(value, bool):
      value = float(value)
    _check_type(workdir, phase, key, value, defaults[key])
    _set(config, key, value)
  return config


def _check_type(workdir: str, phase: str, key: str, value, default) -> None:
  """A config.json value of another type than the code's (a hand edit gone wrong, e.g.
  "latent_dim": "four") is one line naming the key, not a JAX error deep in the model."""
  kinds = (bool, int, float, str, tuple)
  expected = next((k for k in kinds if isinstance(default, k)), None)
  if expected is None or default is None or value is None:
    return
  ok = isinstance(value, expected) and (expected is bool or not isinstance(value, bool))
  if not ok:
    raise WorkdirError(f'{workdir_lib.config_path(workdir, phase)}: {key} is {value!r} ({type(value).__name__}) '
                       f'but must be {"an" if expected is int else "a"} {expected.__name__}; fix that value or retrain the phase.')


def with_overrides(config: ml_collections.ConfigDict, overrides: dict,
                   allowed: tuple[str, ...] = EVALUATION_KEYS) -> ml_collections.ConfigDict:
  """config with flat {'eval.iw_samples': 4} overrides; a key outside `allowed` (top-level
  names) is refused, since the model and data must stay those of the trained run."""
  for key, value in overrides.items():
    if key.split('.')[0] not in allowed:
      raise WorkdirError(f'--config.{key} cannot change at evaluation: the model and data come '
                         "from the work directory's config.json; drop it (only "
                         f'{", ".join(k + ".*" if k in ("eval", "sampling") else k for k in allowed)} '
                         'may be set).')
    _set(config, key, value)
  return config


def _set(config, dotted_key: str, value) -> None:
  *parents, leaf = dotted_key.split('.')
  node = config
  for name in parents:
    node = node[name]
  with node.ignore_type():
    node[leaf] = value
