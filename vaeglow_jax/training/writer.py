"""The training metric writer (clu), for a local or an object-storage phase directory.

clu's TensorBoard writer writes event files through TensorFlow's file system, whose GCS client
has a fixed endpoint (it ignores STORAGE_EMULATOR_HOST). So for a gs:// directory the events are
written to a local temporary directory and copied to the phase directory, through the
work-directory module, at every flush (every checkpoint and at the end of the run): the bucket
holds the events up to the last checkpoint, as a local run's directory does after a kill.

clu.metric_writers imports TensorFlow (about 3 s), so it is imported when a writer is made, not
with this module: a command that stops at a bad input answers before paying for it.
"""

from __future__ import annotations

import tempfile

from absl import logging

from vaeglow_jax import reliability
from vaeglow_jax import workdir as workdir_lib


class _MirroredWriter:
  """A clu writer into a local directory whose flush() and close() also copy its files to
  `remote_dir`; every other call goes to the clu writer."""

  def __init__(self, writer, local_dir: str, remote_dir: str):
    self._writer, self._local_dir, self._remote_dir = writer, local_dir, remote_dir
    # A process ended at once (another host lost) still copies what it has, and leaves no
    # temporary folder behind.
    self._abort = reliability.on_abort(self._copy_and_remove)
    self._abort.__enter__()

  def _copy_and_remove(self):
    """Copies the events to the bucket, then removes the local copy (kept if the copy fails)."""
    workdir_lib.copy_tree(self._local_dir, self._remote_dir)
    workdir_lib.remove_tree(self._local_dir)

  def __getattr__(self, name):  # write_scalars, write_images, write_hparams, ...
    return getattr(self._writer, name)

  def flush(self):
    self._writer.flush()
    workdir_lib.copy_tree(self._local_dir, self._remote_dir)

  def close(self):
    self._abort.__exit__(None, None, None)
    self._writer.close()
    try:
      self._copy_and_remove()
    except Exception as e:  # noqa: BLE001 - the bucket is away: keep the events, say where
      logging.warning('could not copy the TensorBoard events to %s (%s); they are kept in %s: '
                      'copy them there (gcloud storage cp) when it is back', self._remote_dir,
                      reliability.first_line(e), self._local_dir)


def create_writer(phase_dir: str, just_logging: bool):
  """clu's default writer (TensorBoard events + absl logging) for `phase_dir`; only logging when
  `just_logging` (processes other than 0). -> a clu MetricWriter (or one that forwards to it)."""
  from clu import metric_writers
  if workdir_lib.is_local(phase_dir) or just_logging:
    return metric_writers.create_default_writer(phase_dir, just_logging=just_logging)
  local_dir = tempfile.mkdtemp(prefix='vaeglow_events_')
  return _MirroredWriter(metric_writers.create_default_writer(local_dir), local_dir, phase_dir)
