"""The work directory: its layout, every read and write of its files, and the configs in it.

WORKDIR/<phase>/{config.json, timing.json, checkpoints/, samples/}; WORKDIR/eval/metrics.json.

Every path may be local or on object storage (`gs://bucket/run`): all I/O goes through
`etils.epath`, as Orbax's and TFDS's does. The library reads and writes the work directory only
through this module. Writes are whole or not at all: locally a temporary file renamed over the
target; on object storage one object upload, which the store makes visible atomically.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import ml_collections
from etils import epath
from flax import traverse_util

from vaeglow_jax.reliability import WorkdirError

PathLike = str | os.PathLike


def is_local(path: PathLike) -> bool:
  """Whether `path` is on this machine's file system (not a URL such as gs://...)."""
  return '://' not in os.fspath(path)


def join(path: PathLike, *parts: str) -> str:
  """path/part/...: a local path or a URL, as a string."""
  return os.fspath(epath.Path(path).joinpath(*parts))


def absolute(path: PathLike) -> str:
  """An absolute local path (Orbax needs one), or the URL unchanged."""
  return os.path.abspath(path) if is_local(path) else os.fspath(path)


def basename(path: PathLike) -> str:
  return epath.Path(path).name


def dirname(path: PathLike) -> str:
  return os.fspath(epath.Path(path).parent)


def exists(path: PathLike) -> bool:
  return epath.Path(path).exists()


def is_file(path: PathLike) -> bool:
  return epath.Path(path).is_file()


def is_dir(path: PathLike) -> bool:
  return epath.Path(path).is_dir()


def list_dir(path: PathLike) -> list[str]:
  """The names in directory `path`, sorted; [] if it does not exist."""
  directory = epath.Path(path)
  return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def modified_time(path: PathLike) -> float:
  """Seconds since the epoch at which `path` was last written."""
  return float(epath.Path(path).stat().mtime)


def make_dirs(path: PathLike) -> None:
  epath.Path(path).mkdir(parents=True, exist_ok=True)


def remove_tree(path: PathLike) -> None:
  """Deletes `path` and everything under it, if it exists."""
  target = epath.Path(path)
  if target.is_dir():
    target.rmtree()
  elif target.exists():
    target.unlink()


def read_text(path: PathLike) -> str:
  return epath.Path(path).read_text()


def read_bytes(path: PathLike) -> bytes:
  return epath.Path(path).read_bytes()


def read_json(path: PathLike, default: Any = None) -> Any:
  """The JSON in `path`, or `default` if the file does not exist. Invalid JSON is a WorkdirError
  naming the file (e.g. one cut short by a kill, or a hand edit)."""
  if not is_file(path):
    return default
  text = read_text(path)
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise WorkdirError(f'{os.fspath(path)} is not valid JSON ({e.msg} at line {e.lineno}, e.g. a '
                       'run killed while writing it); restore it from a copy, or delete it if it '
                       'can be recomputed.') from e


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
  """Writes `path` whole or not at all: a kill never leaves half a file for the next run.
  The parent directory is created if missing."""
  target = epath.Path(path)
  target.parent.mkdir(parents=True, exist_ok=True)
  if not is_local(path):  # one object upload: visible whole or not at all
    target.write_bytes(data)
    return
  tmp = target.with_name(target.name + '.tmp')
  tmp.write_bytes(data)
  os.replace(tmp, target)


def write_text_atomic(path: PathLike, text: str) -> None:
  write_bytes_atomic(path, text.encode())


def write_json_atomic(path: PathLike, value: Any, indent: int | None = 1) -> None:
  write_text_atomic(path, json.dumps(value, indent=indent, sort_keys=True) + '\n')


def write_npz_atomic(path: PathLike, arrays: dict) -> None:
  """np.savez_compressed(path, **arrays), whole or not at all."""
  import numpy as np
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **arrays)
  write_bytes_atomic(path, buffer.getvalue())


def write_png(path: PathLike, image) -> None:
  """A uint8 (H, W), (H, W, 1) or (H, W, 3) array as a PNG file."""
  import numpy as np
  from PIL import Image
  image = np.asarray(image)
  buffer = io.BytesIO()
  Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image).save(
      buffer, format='png')
  write_bytes_atomic(path, buffer.getvalue())


def write_figure(path: PathLike, figure, **savefig_kwargs) -> None:
  """A matplotlib figure saved to `path` (its format from the extension)."""
  buffer = io.BytesIO()
  figure.savefig(buffer, format=os.path.splitext(os.fspath(path))[1][1:] or 'png', **savefig_kwargs)
  write_bytes_atomic(path, buffer.getvalue())


# How a run was launched (processes, coordinator): never read back from config.json, since
# an evaluation is launched anew.
LAUNCH_KEYS = ('multihost', 'distributed')
# Keys added to the code after runs were trained whose default is not how those runs behaved:
# the value that reproduces them. Every other key added since takes today's default, which
# reproduces the older runs (e.g. model.gamma, model.*.unroll); this is the only place that
# knows the history of the config (trained_config).
LEGACY_VALUES = {
    'model.glow.mixing': 'none',  # the Glow layer's steps had no channel mixing before it existed
}
# Keys an evaluation may change without retraining; everything else comes from config.json.
EVALUATION_KEYS = ('phase', 'eval', 'sampling', 'num_devices', 'stage1_workdir') + LAUNCH_KEYS


def phase_dir(workdir: str, phase: str) -> str:
  return join(workdir, phase)


def config_path(workdir: str, phase: str) -> str:
  return join(workdir, phase, 'config.json')


def checkpoints_dir(workdir: str, phase: str) -> str:
  return join(workdir, phase, 'checkpoints')


def has_checkpoint(directory: str) -> bool:
  """Whether `directory` holds a finished Orbax step folder (a name of digits: a save in progress
  has a temporary name). Read from the file system, not through Orbax, whose manager is a
  collective on several processes: this may run where one process can fail alone."""
  return any(name.isdigit() for name in list_dir(directory))


def timing_path(workdir: str, phase: str) -> str:
  return join(workdir, phase, 'timing.json')


def saved_config(workdir: str, phase: str) -> dict:
  """WORKDIR/<phase>/config.json as nested dicts, as training wrote it (JSON: tuples are lists)."""
  path = config_path(workdir, phase)
  if not is_file(path):
    raise WorkdirError(f'no trained phase {phase!r} in {workdir} ({path} is missing); train it '
                       'first or pass the right --workdir and --config.phase.')
  text = read_text(path)
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


def eval_dir(workdir: str, phase: str) -> str:
  """Where experiments.evaluate writes a phase's sample grids and exported samples."""
  return join(workdir, 'eval', phase)


def metrics_path(workdir: str) -> str:
  """WORKDIR/eval/metrics.json: {phase: metrics} of every evaluated phase."""
  return join(workdir, 'eval', 'metrics.json')


def trained_config(workdir: str, phase: str,
                   base: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config `phase` was trained with (WORKDIR/<phase>/config.json), as a ConfigDict
  shaped like `base`: keys added to the code since the run take LEGACY_VALUES' value if
  listed there, base's otherwise; keys
  the code no longer has are dropped, and JSON lists become tuples where base has tuples.
  The launch settings (LAUNCH_KEYS) keep base's values."""
  saved = traverse_util.flatten_dict(saved_config(workdir, phase), sep='.')
  config = base.copy_and_resolve_references()
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
