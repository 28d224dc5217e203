"""Checkpoints: Orbax managers, saving, restoring, and one checked load.

`load_checked(directory, expected, where)` is the one way a checkpoint's parameters reach a
model that did not write it (phase 2's hand-off from phase 1, evaluation, the feature
extractor): the latest step, every expected leaf present with its shape, cast to the model's
dtypes; a damaged or mismatched checkpoint is one CheckpointError naming the file and the fix.
"""

from __future__ import annotations

import gc
import logging
import sys

import jax
import numpy as np

from vaeglow_jax import reliability
from vaeglow_jax.errors import UserError
from vaeglow_jax import workdir as workdir_lib


class CheckpointError(UserError, RuntimeError):
  """A checkpoint is missing, damaged, or of another model; the message says what to do."""


TMP_MARKER = '.orbax-checkpoint-tmp'


def remove_temporaries(directory: str) -> None:
  """Removes the temporary folders of saves that did not finish (killed, or a full disk)."""
  for name in workdir_lib.list_dir(directory):
    if TMP_MARKER in name:
      workdir_lib.remove_tree(workdir_lib.join(directory, name))


def step_bytes(directory: str) -> int | None:
  """The size of the newest finished step folder in a local `directory` (what the next save
  needs), else None."""
  steps = workdir_lib.finished_steps(directory)
  if not steps or not workdir_lib.is_local(directory):
    return None
  return workdir_lib.tree_bytes(workdir_lib.join(directory, str(steps[-1])))


def checkpoint_manager(directory: str, max_to_keep: int, read_only: bool = False):
  """Orbax manager; saves are atomic (temporary folder, then rename), so a save cut
  short is never loaded. Unless read_only, leftover temporary folders of a killed
  save are removed first (synchronously, rather than in Orbax's background thread)."""
  import orbax.checkpoint as ocp
  directory = workdir_lib.absolute(directory)
  if not read_only:
    remove_temporaries(directory)
  # A read-only manager saves nothing: no save interval and no count to keep (Orbax warns, and
  # resets them, when they are given).
  options = ocp.CheckpointManagerOptions(
      max_to_keep=None if read_only else max_to_keep, create=not read_only,
      save_interval_steps=0 if read_only else 1, cleanup_tmp_directories=False, read_only=read_only)
  return ocp.CheckpointManager(directory, options=options)


class _HeldOutput(logging.Filter):
  """What a save prints while it runs, held back until it ends: the ERROR records of Orbax and
  asyncio (stack traces), and what TensorStore's threads write to sys.stderr ('Event loop is
  closed' tracebacks). A save that ends well, or fails for another reason than storage, releases
  all of it in order; a storage failure drops it, as the caller reports that in one line."""

  def __init__(self):
    super().__init__()
    self.records, self.text = [], []
    self._loggers = [logging.getLogger('absl'), logging.getLogger('asyncio')]
    self._stderr = None

  def filter(self, record):
    if record.levelno >= logging.ERROR and ('/orbax/' in record.pathname
                                            or record.name == 'asyncio'):
      self.records.append(record)
      return False
    return True

  def write(self, text):
    self.text.append(text)
    return len(text)

  def flush(self):
    pass

  def __enter__(self):
    for logger in self._loggers:
      logger.addFilter(self)
    self._stderr, sys.stderr = sys.stderr, self
    return self

  def close(self, release: bool):
    if self._stderr is None:
      return
    if not release:
      gc.collect()  # asyncio logs a failed write's orphaned tasks when they are collected
    sys.stderr, self._stderr = self._stderr, None
    for logger in self._loggers:
      logger.removeFilter(self)
    if release:
      sys.stderr.write(''.join(self.text))
      for record in self.records:
        logging.getLogger(record.name).handle(record)

  def __exit__(self, *exc):
    self.close(release=True)
    return False

  def storage_error(self) -> OSError | None:
    """The storage error behind a held record, if any."""
    for record in self.records:
      found = record.exc_info and reliability.storage_error(record.exc_info[1])
      if found:
        return found
    return None


def save_checkpoint(manager, state) -> None:
  """Saves `state` at its step and waits for the save to finish (a collective). A save that a
  full or read-only storage stops leaves no temporary folder, prints nothing, and raises the
  storage error (an OSError)."""
  import orbax.checkpoint as ocp
  with _HeldOutput() as held:
    try:
      manager.save(int(state.step), args=ocp.args.StandardSave(state), force=True)
      manager.wait_until_finished()
    except Exception as e:
      # The error that reaches this thread may have lost its cause (e.g. 'Event loop is
      # closed'): the records of Orbax's threads still hold it.
      found = reliability.storage_error(e) or held.storage_error()
      if found is None:
        raise
      held.close(release=False)
      remove_temporaries(str(manager.directory))
      raise found from e


def restore_checkpoint(manager, target, step: int | None = None):
  import orbax.checkpoint as ocp
  step = manager.latest_step() if step is None else step
  abstract = jax.tree_util.tree_map(
      lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), target)
  return manager.restore(step, args=ocp.args.StandardRestore(abstract))


def restore_raw(manager, step: int | None = None):
  """Restores a checkpoint without a target (nested dicts of arrays), every array whole on
  this process's first device, whatever devices and processes saved it."""
  import orbax.checkpoint as ocp
  step = manager.latest_step() if step is None else step
  path = workdir_lib.join(str(manager.directory), str(step), 'default')
  metadata = ocp.StandardCheckpointer().metadata(path).item_metadata.tree
  local = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = jax.tree_util.tree_map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=local), metadata)
  return manager.restore(step, args=ocp.args.StandardRestore(abstract))


def read(manager, step: int, target=None):
  """Restores step (into `target`'s structure and shardings, or raw), turning any Orbax or
  TensorStore failure into a CheckpointError."""
  try:
    if target is None:
      return restore_raw(manager, step)
    return restore_checkpoint(manager, target, step)
  except Exception as e:  # noqa: BLE001 - any read failure means a damaged checkpoint
    path = workdir_lib.join(str(manager.directory), str(step))
    raise CheckpointError(f'checkpoint {path} cannot be read ({type(e).__name__}): it is damaged (a '
                          'save cut short?); move that step folder aside to resume from the '
                          'previous checkpoint.') from e


def load_checked(directory: str, expected, where: str, missing_hint: str):
  """The latest checkpoint in `directory`, fitted to `expected` -> (variables, step).

  expected: the abstract variables ({'params': {key: tree}, collection: tree}, e.g. from
  jax.eval_shape) of the parts wanted; the checkpoint's 'params' and 'frozen' trees together
  are its params, its 'collections' the rest (a checkpoint of bare parameters is its params).
  Extra keys in the checkpoint are dropped; a missing
  leaf or another shape is a CheckpointError naming `where`. Leaves are numpy arrays in the
  expected dtypes. missing_hint: what to do when there is no readable checkpoint.
  """
  manager = checkpoint_manager(directory, 1, read_only=True)
  step = manager.latest_step()
  if step is None:  # no step folder, or only ones Orbax does not recognise
    raise CheckpointError(f'no readable checkpoint in {directory}; {missing_hint}')
  raw = read(manager, int(step))
  if 'params' not in raw:  # a checkpoint of bare parameters (the feature extractor's)
    raw = {'params': raw}
  saved = {'params': {**raw.get('frozen', {}), **raw['params']}, **raw.get('collections', {})}
  return fit(saved, expected, f'{where} ({workdir_lib.join(directory, str(step))})'), int(step)


def fit(saved, expected, where: str):
  """saved (nested dicts of arrays) checked against `expected` (abstract variables: every leaf
  present with its shape) and cast to its dtypes as numpy arrays; keys `expected` lacks are
  dropped. where: named in the CheckpointError."""
  got = dict(jax.tree_util.tree_flatten_with_path(saved)[0])
  for path, leaf in jax.tree_util.tree_flatten_with_path(expected)[0]:
    if path not in got or tuple(np.shape(got[path])) != tuple(leaf.shape):
      found = 'missing' if path not in got else f'of shape {tuple(np.shape(got[path]))}'
      raise CheckpointError(f'{where} does not fit this config: {jax.tree_util.keystr(path)} is '
                            f'{found}, expected {tuple(leaf.shape)}; use the model.* it was '
                            'trained with.')
  return jax.tree_util.tree_map(lambda e, v: np.asarray(v, e.dtype), expected,
                                _select(saved, expected))


def _select(tree: dict, like: dict) -> dict:
  """tree restricted to the keys of `like`, recursively through dicts."""
  return {k: _select(tree[k], v) if isinstance(v, dict) else tree[k] for k, v in like.items()}
