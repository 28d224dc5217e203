"""The training metric writer (clu), for a local or an object-storage phase directory.

clu's TensorBoard writer writes event files through TensorFlow's file system, whose GCS client
has a fixed endpoint (it ignores STORAGE_EMULATOR_HOST). So for a gs:// directory the events are
written to a local temporary directory and copied to the phase directory, through the
work-directory module, at every flush (every checkpoint and at the end of the run): the bucket
holds the events up to the last checkpoint, as a local run's directory does after a kill.
"""

from __future__ import annotations

import tempfile

from clu import metric_writers

from vaeglow_jax import workdir as workdir_lib


class _MirroredWriter(metric_writers.MultiWriter):
  """Writes to a local directory; flush() and close() copy its files to `remote_dir`."""

  def __init__(self, local_dir: str, remote_dir: str, just_logging: bool):
    super().__init__([metric_writers.create_default_writer(local_dir, just_logging=just_logging)])
    self._local_dir, self._remote_dir = local_dir, remote_dir

  def flush(self):
    super().flush()
    workdir_lib.copy_tree(self._local_dir, self._remote_dir)

  def close(self):
    super().close()
    workdir_lib.copy_tree(self._local_dir, self._remote_dir)
    workdir_lib.remove_tree(self._local_dir)


def create_writer(phase_dir: str, just_logging: bool) -> metric_writers.MetricWriter:
  """clu's default writer (TensorBoard events + absl logging) for `phase_dir`; only logging when
  `just_logging` (processes other than 0)."""
  if workdir_lib.is_local(phase_dir) or just_logging:
    return metric_writers.create_default_writer(phase_dir, just_logging=just_logging)
  return _MirroredWriter(tempfile.mkdtemp(prefix='vaeglow_events_'), phase_dir, just_logging)
