"""The work directory's layout: where each phase's config, checkpoints, timing and evaluation live.

WORKDIR/<phase>/{config.json, timing.json, checkpoints/, samples/}; WORKDIR/eval/metrics.json.
The files are read and written through `io.files`, so WORKDIR may be local or `gs://`.
"""

from __future__ import annotations

import json


from vaeglow_jax.errors import WorkdirError
from vaeglow_jax.io import files


# A feature extractor's work directory: checkpoints/ and this file (its architecture, data and
# test accuracy).
FEATURE_EXTRACTOR_INFO = 'feature_extractor.json'


def phase_dir(workdir: str, phase: str) -> str:
  return files.join(workdir, phase)


def config_path(workdir: str, phase: str) -> str:
  return files.join(workdir, phase, 'config.json')


def checkpoints_dir(workdir: str, phase: str) -> str:
  return files.join(workdir, phase, 'checkpoints')


def finished_steps(directory: str) -> list[int]:
  """The finished Orbax step folders in `directory`, ascending: locally a name of digits (a save
  in progress has a temporary name); on object storage, where Orbax writes the step folder under
  its final name, one that also holds Orbax's commit_success.txt. Read from the file system,
  not through Orbax, whose manager is a collective on several processes: this may run where one
  process can fail alone."""
  steps = [name for name in files.list_dir(directory) if name.isdigit()]
  if not files.is_local(directory):
    steps = [step for step in steps if files.is_file(files.join(directory, step, 'commit_success.txt'))]
  return sorted(int(step) for step in steps)


def has_checkpoint(directory: str) -> bool:
  """Whether `directory` holds a finished Orbax step folder (finished_steps)."""
  return bool(finished_steps(directory))


def newest_checkpoint_time(directory: str) -> float:
  """Seconds since the epoch at which the newest step folder in `directory` was saved (its
  Orbax metadata file's time: a folder in a bucket has none)."""
  times = []
  for step in (name for name in files.list_dir(directory) if name.isdigit()):
    metadata = files.join(directory, step, '_CHECKPOINT_METADATA')
    times.append(files.modified_time(metadata if files.is_file(metadata) else files.join(directory, step)))
  return max(times)


def timing_path(workdir: str, phase: str) -> str:
  return files.join(workdir, phase, 'timing.json')


def saved_config(workdir: str, phase: str) -> dict:
  """WORKDIR/<phase>/config.json as nested dicts, as training wrote it (JSON: tuples are lists)."""
  path = config_path(workdir, phase)
  if not files.is_file(path):
    raise WorkdirError(f'no trained phase {phase!r} in {workdir} ({path} is missing); train it '
                       'first or pass the right --workdir and --config.phase.')
  text = files.read_text(path)
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
  return files.join(workdir, 'eval', phase)


def metrics_path(workdir: str) -> str:
  """WORKDIR/eval/metrics.json: {phase: metrics} of every evaluated phase."""
  return files.join(workdir, 'eval', 'metrics.json')


def read_metrics(workdir: str) -> dict:
  """WORKDIR/eval/metrics.json as {result key: metrics}; {} before the first evaluation."""
  return files.read_json(metrics_path(workdir), default={})
