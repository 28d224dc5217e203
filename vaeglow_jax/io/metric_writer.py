"""The training metric writer (clu), for a local or an object-storage phase directory.

clu's TensorBoard writer writes event files through TensorFlow's file system, whose GCS client
has a fixed endpoint (it ignores STORAGE_EMULATOR_HOST). So for a gs:// directory the events are
written to a local folder and uploaded, through the work-directory module, at every flush (every
checkpoint, and at the end of the run). Each flush closes the event file, uploads it under its
own name and deletes it, and the next events go to a new file: an upload carries only what is
new (TensorBoard reads every event file of a folder, in name order), and the bucket holds the
events up to the last checkpoint, as a local run's directory does after a kill.

The local folder, `$TMPDIR/vaeglow_events_<pid>_*`, names its destination in a file. A process
killed at once (kill -9) leaves it behind; the next writer for the same phase directory on this
host uploads what it holds (the events since the last flush: nothing is lost) and deletes it.

clu.metric_writers imports TensorFlow (about 3 s), so it is imported when a writer is made, not
with this module: a command that stops at a bad input answers before paying for it.
"""

from __future__ import annotations

import os
import socket
import tempfile

from absl import logging

from vaeglow_jax.io import files as files_lib
from vaeglow_jax.runtime import failures
from vaeglow_jax.runtime import lock as lock_lib

_PREFIX = 'vaeglow_events_'
_DESTINATION_FILE = '.destination'  # the phase directory the folder's events belong to


def _upload(local_dir: str, remote_dir: str) -> list[str]:
  """Uploads the event files of `local_dir` to `remote_dir`, deleting each once uploaded."""
  return files_lib.move_files(local_dir, remote_dir, skip=(_DESTINATION_FILE,))


def _local_folders(remote_dir: str) -> list[tuple[str, int]]:
  """This host's event folders for `remote_dir`: [(folder, pid of the process that made it)]."""
  folders = []
  for name in files_lib.list_dir(tempfile.gettempdir()):
    folder = os.path.join(tempfile.gettempdir(), name)
    try:
      if (name.startswith(_PREFIX) and
          files_lib.read_text(os.path.join(folder, _DESTINATION_FILE)) == remote_dir):
        folders.append((folder, int(name[len(_PREFIX):].split('_')[0])))
    except (OSError, ValueError):  # not one of ours, or another user's
      continue
  return folders


def recover_left_events(remote_dir: str) -> list[str]:
  """Uploads, then deletes, the event folders that killed processes of this host left for
  `remote_dir`. -> the names uploaded."""
  uploaded = []
  for folder, pid in _local_folders(remote_dir):
    if lock_lib.process_is_gone(socket.gethostname(), pid):
      uploaded += _upload(folder, remote_dir)
      files_lib.remove_tree(folder)
  if uploaded:
    logging.info('uploaded %d event file(s) a killed run left in %s', len(uploaded),
                 tempfile.gettempdir())
  return uploaded


class _UploadingWriter:
  """A clu writer into a local folder whose flush() and close() upload the finished event files
  to `remote_dir`, then start a new file; every other call goes to the current clu writer."""

  def __init__(self, make_writer, remote_dir: str):
    self._make_writer, self._remote_dir = make_writer, remote_dir
    recover_left_events(remote_dir)
    self._local_dir = tempfile.mkdtemp(prefix=f'{_PREFIX}{os.getpid()}_')
    files_lib.write_text_atomic(os.path.join(self._local_dir, _DESTINATION_FILE), remote_dir)
    self._writer = make_writer(self._local_dir)
    # A process ended at once (another host lost) still uploads what it has, and leaves no
    # local folder behind.
    self._abort = failures.on_abort(self._upload_on_abort)
    self._abort.__enter__()

  def _upload_all(self):
    """Closes the current file, uploads every file, and removes the local folder."""
    self._writer.close()
    _upload(self._local_dir, self._remote_dir)
    files_lib.remove_tree(self._local_dir)

  def _upload_on_abort(self):
    """_upload_all from another thread while the main one may be inside the writer: the open
    file is flushed, not closed, and uploaded as it is."""
    self._writer.flush()
    _upload(self._local_dir, self._remote_dir)
    files_lib.remove_tree(self._local_dir)

  def __getattr__(self, name):  # write_scalars, write_images, write_hparams, ...
    return getattr(self._writer, name)

  def flush(self):
    self._writer.close()
    try:
      _upload(self._local_dir, self._remote_dir)
    except Exception as e:  # noqa: BLE001 - kept locally; the next flush tries again
      if not failures.storage_error(e) and not failures.unreachable_error(e):
        raise
      logging.warning('could not upload the TensorBoard events to %s (%s); the next flush tries '
                      'again', self._remote_dir, failures.first_line(e))
    finally:  # the next events go to a new file
      self._writer = self._make_writer(self._local_dir)

  def close(self):
    self._abort.__exit__(None, None, None)
    try:
      self._upload_all()
    except Exception as e:  # noqa: BLE001 - the bucket is away: keep the events, say where
      logging.warning('could not upload the TensorBoard events to %s (%s); they are kept in %s: '
                      'copy them there (gcloud storage cp) when it is back, or rerun: the next '
                      'run of this phase on this host uploads them', self._remote_dir,
                      failures.first_line(e), self._local_dir)


def create_writer(phase_dir: str, just_logging: bool):
  """clu's default writer (TensorBoard events + absl logging) for `phase_dir`; only logging when
  `just_logging` (processes other than 0). -> a clu MetricWriter (or one that forwards to it)."""
  from clu import metric_writers
  if files_lib.is_local(phase_dir) or just_logging:
    return metric_writers.create_default_writer(phase_dir, just_logging=just_logging)
  return _UploadingWriter(metric_writers.create_default_writer, phase_dir)
