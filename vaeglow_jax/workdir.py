"""The layout of a work directory, and the config each phase in it was trained with.

WORKDIR/<phase>/{config.json, timing.json, checkpoints/, samples/}; WORKDIR/eval/metrics.json.
"""

from __future__ import annotations

import json
import os

import ml_collections
from flax import traverse_util

from vaeglow_jax.reliability import WorkdirError

# How a run was launched (processes, coordinator): never read back from config.json, since
# an evaluation is launched anew.
LAUNCH_KEYS = ('multihost', 'distributed')
# Keys an evaluation may change without retraining; everything else comes from config.json.
EVALUATION_KEYS = ('phase', 'eval', 'sampling', 'num_devices', 'stage1_workdir') + LAUNCH_KEYS


def phase_dir(workdir: str, phase: str) -> str:
  return os.path.join(workdir, phase)


def config_path(workdir: str, phase: str) -> str:
  return os.path.join(phase_dir(workdir, phase), 'config.json')


def checkpoints_dir(workdir: str, phase: str) -> str:
  return os.path.join(phase_dir(workdir, phase), 'checkpoints')


def has_checkpoint(directory: str) -> bool:
  """Whether `directory` holds a finished Orbax step folder (a name of digits: a save in progress
  has a temporary name). Read from the file system, not through Orbax, whose manager is a
  collective on several processes: this may run where one process can fail alone."""
  return os.path.isdir(directory) and any(name.isdigit() for name in os.listdir(directory))


def timing_path(workdir: str, phase: str) -> str:
  return os.path.join(phase_dir(workdir, phase), 'timing.json')


def saved_config(workdir: str, phase: str) -> dict:
  """WORKDIR/<phase>/config.json as nested dicts, as training wrote it (JSON: tuples are lists)."""
  path = config_path(workdir, phase)
  if not os.path.isfile(path):
    raise WorkdirError(f'no trained phase {phase!r} in {workdir} ({path} is missing); train it '
                       'first or pass the right --workdir and --config.phase.')
  with open(path) as f:
    text = f.read()
  try:
    saved = json.loads(text)
  except json.JSONDecodeError as e:
    raise WorkdirError(f'{path} is not valid JSON ({e.msg} at line {e.lineno}, e.g. a run killed '
                       'while writing it); restore it from a copy, or retrain the phase in a new '
                       '--workdir.') from e
  if not isinstance(saved, dict):
    raise WorkdirError(f'{path} holds a {type(saved).__name__}, not a config object; restore it '
                       'from a copy, or retrain the phase in a new --workdir.')
  return saved


def write_npz_atomic(path: str, arrays: dict) -> None:
  """np.savez_compressed(path, **arrays), whole or not at all (as write_text_atomic)."""
  import numpy as np
  tmp = path[:-len('.npz')] + '.tmp.npz' if path.endswith('.npz') else path + '.tmp.npz'
  np.savez_compressed(tmp, **arrays)
  os.replace(tmp, path)


def write_text_atomic(path: str, text: str) -> None:
  """Writes path whole or not at all (a temporary file renamed over it): a kill never leaves
  half a file for the next run to read."""
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.write(text)
  os.replace(tmp, path)


def eval_dir(workdir: str, phase: str) -> str:
  """Where experiments.evaluate writes a phase's sample grids and exported samples."""
  return os.path.join(workdir, 'eval', phase)


def metrics_path(workdir: str) -> str:
  """WORKDIR/eval/metrics.json: {phase: metrics} of every evaluated phase."""
  return os.path.join(workdir, 'eval', 'metrics.json')


def trained_config(workdir: str, phase: str,
                   base: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config `phase` was trained with (WORKDIR/<phase>/config.json), as a ConfigDict
  shaped like `base`: keys added to the code since the run keep base's values, keys
  the code no longer has are dropped, and JSON lists become tuples where base has tuples.
  The launch settings (LAUNCH_KEYS) keep base's values."""
  saved = traverse_util.flatten_dict(saved_config(workdir, phase), sep='.')
  config = base.copy_and_resolve_references()
  defaults = traverse_util.flatten_dict(config.to_dict(), sep='.')
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
    raise WorkdirError(f'{config_path(workdir, phase)}: {key} is {value!r} ({type(value).__name__}) '
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
