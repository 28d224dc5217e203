"""Checkpoints: Orbax managers, saving, restoring with verified fingerprints, and one checked load.

Every save first writes a fingerprint of each array it holds (`fingerprints`: two position-
weighted sums of its raw bits modulo 2^32, computed on device, the same however the array is
sharded) to <checkpoints>/fingerprints/<step>.json, then the Orbax step folder, then adds the
CRC-32 of every file of that folder. Every restore (`read`) checks the files first, then
recomputes the arrays' fingerprints on what it read; any difference is a DamagedCheckpoint. A
step saved before fingerprints existed loads with one warning line. Orbax's own checks do not
cover the bytes: its chunks carry no checksums, and a flipped byte mostly decodes. The array
fingerprints check what is loaded whatever the storage format; the file CRCs also catch damage
to a file no restore happens to read today (metadata, another process's shards).

`load_checked(directory, expected, where)` is the one way a checkpoint's parameters reach a
model that did not write it (phase 2's hand-off from phase 1, evaluation, the feature
extractor): the latest step, verified, every expected leaf present with its shape, cast to the
model's dtypes; a damaged or mismatched checkpoint is one CheckpointError naming the file and the
fix. It never falls back to an older step: phase 2 was trained on one particular phase 1.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import zlib

import jax
import jax.numpy as jnp
import numpy as np

from vaeglow_jax.errors import UserError
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.io import workdir as workdir_lib
from vaeglow_jax.runtime import failures


class CheckpointError(UserError, RuntimeError):
  """A checkpoint is missing, damaged, or of another model; the message says what to do."""


class DamagedCheckpoint(CheckpointError):
  """A checkpoint that cannot be read, or whose arrays differ from their saved fingerprints."""


TMP_MARKER = '.orbax-checkpoint-tmp'
FINGERPRINTS = 'fingerprints'        # <checkpoints dir>/fingerprints/<step>.json
DAMAGED = 'damaged_checkpoints'      # <phase dir>/damaged_checkpoints/<step>: moved aside, kept


def leaf_name(path) -> str:
  """'opt_state/1/0/mu/encoder/kernel': a pytree path as the same string for a TrainState and
  for the nested dicts a raw restore gives (attribute, key and index entries alike)."""
  parts = []
  for entry in path:
    for attribute in ('key', 'name', 'idx'):
      if hasattr(entry, attribute):
        parts.append(str(getattr(entry, attribute)))
        break
  return '/'.join(parts)


def _leaf_fingerprint(a: jax.Array) -> jax.Array:
  """(2,) uint32: sum_i bits_i * w_i mod 2^32 for two odd weight sequences w_i (2i + 1, and
  an odd multiplicative hash of i), bits_i the raw bits of element i (widened to 32 bits; 64-bit
  elements as two words). Any single changed element changes both sums (an odd weight is
  invertible mod 2^32); integer sums do not depend on the summation order, so the value is the
  same on any sharding and any number of processes."""
  if a.dtype == jnp.bool_:
    a = a.astype(jnp.uint8)
  width = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[a.dtype.itemsize]
  bits = jax.lax.bitcast_convert_type(a, width).astype(jnp.uint32).reshape(-1)
  index = jnp.arange(bits.size, dtype=jnp.uint32)
  weights = (2 * index + 1, index * jnp.uint32(0x9E3779B1) | jnp.uint32(1))
  return jnp.stack([jnp.sum(bits * w, dtype=jnp.uint32) for w in weights])


_fingerprint_tree = jax.jit(lambda tree: jax.tree_util.tree_map(_leaf_fingerprint, tree))


def fingerprints(tree) -> dict[str, dict]:
  """{leaf name: {'shape', 'dtype', 'sum': [two uint32]}} of every array of `tree`. A collective
  when the arrays span several processes: every process calls it and gets the same value."""
  sums = _fingerprint_tree(tree)
  out = {}
  for (path, leaf), (_, value) in zip(jax.tree_util.tree_flatten_with_path(tree)[0],
                                      jax.tree_util.tree_flatten_with_path(sums)[0]):
    host = np.asarray(value.addressable_data(0)) if isinstance(value, jax.Array) else value
    out[leaf_name(path)] = {'shape': list(np.shape(leaf)), 'dtype': str(np.dtype(leaf.dtype)),
                            'sum': [int(v) for v in host]}
  return out


def fingerprints_path(directory: str, step: int) -> str:
  return files_lib.join(directory, FINGERPRINTS, f'{int(step)}.json')


def read_fingerprints(directory: str, step: int) -> dict | None:
  """The saved fingerprints of `step`, or None for a step saved before they existed. A file that
  is not valid JSON is a DamagedCheckpoint."""
  try:
    return files_lib.read_json(fingerprints_path(directory, step))
  except workdir_lib.WorkdirError as e:
    raise DamagedCheckpoint(f'checkpoint {files_lib.join(directory, str(step))}: its '
                            f'fingerprints cannot be read ({e})') from e


def differences(tree, expected: dict) -> list[str]:
  """The leaf names whose shape, dtype or sums differ from `expected`, or that one side lacks."""
  got = fingerprints(tree)
  return sorted(name for name in set(got) | set(expected) if got.get(name) != expected.get(name))


def file_checksums(step_dir: str) -> dict[str, int]:
  """{relative path: CRC-32} of every file under a step folder."""
  return {name: zlib.crc32(files_lib.read_bytes(files_lib.join(step_dir, name)))
          for name in files_lib.list_files(step_dir)}


def _damaged(where: str, names: list[str], what: str) -> DamagedCheckpoint:
  more = f' and {len(names) - 3} more' if len(names) > 3 else ''
  return DamagedCheckpoint(f'checkpoint {where} is damaged: {", ".join(names[:3])}{more} differ '
                           f'from the {what} saved with it')


def check_files(directory: str, step: int, saved: dict | None) -> None:
  """Compares the step folder's files with the CRCs saved with it (`saved`: its fingerprints
  file, or None). Read by process 0 alone, whose answer every process takes."""
  from vaeglow_jax.runtime import distributed
  where = files_lib.join(directory, str(step))
  bad = []
  if distributed.is_primary() and saved and 'files' in saved:
    got = file_checksums(where)
    bad = sorted(n for n in set(got) | set(saved['files']) if got.get(n) != saved['files'].get(n))
  if distributed.agree(bool(bad)) if jax.process_count() > 1 else bad:
    raise _damaged(where, bad or ['a file'], 'checksums')


def verify(tree, directory: str, step: int, saved: dict | None) -> bool:
  """Checks the arrays restored from `step` against its saved fingerprints (`saved`): raises
  DamagedCheckpoint on any difference; False (and one warning line) when the step has none."""
  where = files_lib.join(directory, str(step))
  if saved is None:
    logging.warning('checkpoint %s carries no checksums (saved before they existed): loaded '
                    'unverified', where)
    return False
  bad = differences(tree, saved['arrays'])
  if bad:
    raise _damaged(where, bad, 'fingerprints')
  return True


def digest(directory: str, step: int) -> str | None:
  """A short digest (16 hex digits of SHA-256) of `step`'s saved array fingerprints: one string
  that names exactly what a result was computed from; None for a step saved without them."""
  import hashlib
  saved = read_fingerprints(directory, step)
  if saved is None:
    return None
  text = json.dumps(saved['arrays'], sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def damaged_dir(directory: str) -> str:
  """Where the damaged steps of the checkpoints folder `directory` are kept:
  <phase dir>/damaged_checkpoints."""
  return files_lib.join(files_lib.dirname(directory), DAMAGED)


def move_aside(directory: str, step: int) -> str:
  """Moves step folder `step` (and its fingerprints) out of `directory` to
  damaged_dir(directory)/<step>[.<n>], never deleting it; -> where it went."""
  target = files_lib.join(damaged_dir(directory), str(step))
  n = 1
  while files_lib.exists(target):
    target = files_lib.join(damaged_dir(directory), f'{step}.{n}')
    n += 1
  files_lib.move_tree(files_lib.join(directory, str(step)), target)
  prints = fingerprints_path(directory, step)
  if files_lib.is_file(prints):
    files_lib.write_bytes_atomic(files_lib.join(target, 'fingerprints.json'),
                                   files_lib.read_bytes(prints))
    files_lib.remove_tree(prints)
  return target


def remove_temporaries(directory: str) -> None:
  """Removes the temporary folders of saves that did not finish (killed, or a full disk)."""
  for name in files_lib.list_dir(directory):
    if TMP_MARKER in name:
      files_lib.remove_tree(files_lib.join(directory, name))


def step_bytes(directory: str) -> int | None:
  """The size of the newest finished step folder in a local `directory` (what the next save
  needs), else None."""
  steps = workdir_lib.finished_steps(directory)
  if not steps or not files_lib.is_local(directory):
    return None
  return files_lib.tree_bytes(files_lib.join(directory, str(steps[-1])))


def checkpoint_manager(directory: str, max_to_keep: int, read_only: bool = False):
  """Orbax manager; saves are atomic (temporary folder, then rename), so a save cut
  short is never loaded. Unless read_only, leftover temporary folders of a killed
  save are removed first (synchronously, rather than in Orbax's background thread)."""
  import orbax.checkpoint as ocp
  directory = files_lib.absolute(directory)
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
      found = record.exc_info and failures.storage_error(record.exc_info[1])
      if found:
        return found
    return None


def save_checkpoint(manager, state, step: int | None = None) -> None:
  """Saves `state` at `step` (default: its own `step` field) with its fingerprints and waits for
  the save to finish (a collective). A save that a full or read-only storage stops leaves no
  temporary folder, prints nothing, and raises the storage error (an OSError)."""
  import orbax.checkpoint as ocp
  from vaeglow_jax.runtime import distributed
  directory = str(manager.directory)
  step = int(state.step if step is None else step)
  prints = fingerprints(state)  # a collective, before any file is written
  with _HeldOutput() as held:
    try:
      if distributed.is_primary():  # first: a step folder never exists without its fingerprints
        files_lib.write_json_atomic(fingerprints_path(directory, step), {'arrays': prints})
      manager.save(step, args=ocp.args.StandardSave(state), force=True)
      manager.wait_until_finished()
      if distributed.is_primary():
        files = file_checksums(files_lib.join(directory, str(step)))
        files_lib.write_json_atomic(fingerprints_path(directory, step),
                                      {'arrays': prints, 'files': files})
        # The fingerprints of steps Orbax has deleted (max_to_keep).
        kept = {str(s) for s in workdir_lib.finished_steps(directory)} | {str(step)}
        for name in files_lib.list_dir(files_lib.join(directory, FINGERPRINTS)):
          if name.endswith('.json') and name[:-len('.json')] not in kept:
            files_lib.remove_tree(files_lib.join(directory, FINGERPRINTS, name))
    except Exception as e:
      # The error that reaches this thread may have lost its cause (e.g. 'Event loop is
      # closed'): the records of Orbax's threads still hold it.
      found = failures.storage_error(e) or held.storage_error()
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
  path = files_lib.join(str(manager.directory), str(step), 'default')
  metadata = ocp.StandardCheckpointer().metadata(path).item_metadata.tree
  local = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = jax.tree_util.tree_map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=local), metadata)
  return manager.restore(step, args=ocp.args.StandardRestore(abstract))


def read(manager, step: int, target=None):
  """Restores step (into `target`'s structure and shardings, or raw) and verifies it against its
  fingerprints; any Orbax or TensorStore failure, or a difference, is a DamagedCheckpoint (on
  every process alike when several read it: they agree before comparing)."""
  from vaeglow_jax.runtime import distributed
  directory = str(manager.directory)
  path = files_lib.join(directory, str(step))
  saved = read_fingerprints(directory, step)
  check_files(directory, step, saved)
  error = None
  with _HeldOutput() as held:
    try:
      restored = restore_raw(manager, step) if target is None else restore_checkpoint(
          manager, target, step)
    except Exception as e:  # noqa: BLE001 - any read failure means a damaged checkpoint
      error = e
      held.close(release=False)  # its threads' tracebacks: the one line below says it
  if distributed.any_process(error is not None) and error is None:
    error = RuntimeError('another process could not read it')
  if error is not None:
    raise DamagedCheckpoint(f'checkpoint {path} cannot be read ({type(error).__name__}): it is '
                            'damaged (a save cut short, or a bad copy)') from error
  # Each process checks the arrays it holds (a replicated array is one copy per process, each
  # read from storage on its own): a difference any process finds is every process's verdict.
  try:
    verify(restored, directory, step, saved)
    found = None
  except DamagedCheckpoint as e:
    found = e
  if distributed.any_process(found is not None) and found is None:
    found = DamagedCheckpoint(f'checkpoint {path} is damaged: another process read arrays that '
                              'differ from the fingerprints saved with it')
  if found is not None:
    raise found
  return restored


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
  try:
    raw = read(manager, int(step))
  except DamagedCheckpoint as e:
    raise DamagedCheckpoint(f'{where}: {e}; it is never replaced by an older step (what was '
                            'built on it would no longer match): restore it from a copy, or '
                            'train that phase again.') from e
  if 'params' not in raw:  # a checkpoint of bare parameters (the feature extractor's)
    raw = {'params': raw}
  saved = {'params': {**raw.get('frozen', {}), **raw['params']}, **raw.get('collections', {})}
  return fit(saved, expected, f'{where} ({files_lib.join(directory, str(step))})'), int(step)


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


def verify_directory(directory: str) -> list[tuple[int, str, str]]:
  """Every finished step of a checkpoints folder, each read and checked against its
  fingerprints: [(step, 'ok' | 'damaged' | 'no checksums', detail)], in step order."""
  manager = checkpoint_manager(directory, 1, read_only=True)
  out = []
  for step in workdir_lib.finished_steps(directory):
    try:
      with _quiet_warnings():
        read(manager, step)
      has_checksums = read_fingerprints(directory, step) is not None
      out.append((step, 'ok' if has_checksums else 'no checksums', ''))
    except DamagedCheckpoint as e:
      out.append((step, 'damaged', str(e)))
  return out


class _quiet_warnings:
  """The 'carries no checksums' warning is the verify command's own column there."""

  def __enter__(self):
    self._level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)

  def __exit__(self, *exc):
    logging.getLogger().setLevel(self._level)
    return False


def checkpoint_dirs(workdir: str) -> list[str]:
  """The checkpoints folders of a work directory: <phase>/checkpoints of each phase, and
  checkpoints/ itself (a feature extractor's work directory)."""
  found = []
  if files_lib.is_dir(files_lib.join(workdir, 'checkpoints')):
    found.append(files_lib.join(workdir, 'checkpoints'))
  for name in sorted(files_lib.list_dir(workdir)):
    candidate = files_lib.join(workdir, name, 'checkpoints')
    if files_lib.is_dir(candidate):
      found.append(candidate)
  return found
