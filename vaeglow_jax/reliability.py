"""Run safety: work-directory checks, a per-phase lock, and SIGTERM handling."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import threading

from vaeglow_jax.errors import UserError


class WorkdirError(UserError, RuntimeError):
  """The work directory cannot be used; the message says why."""


def check_writable(path: str) -> None:
  """Raises WorkdirError unless `path` is, or could be created as, a writable
  directory. Creates nothing."""
  path = os.path.abspath(path)
  probe = path
  while not os.path.exists(probe):
    parent = os.path.dirname(probe)
    if parent == probe:
      break
    probe = parent
  if not os.path.isdir(probe):
    raise WorkdirError(f'work directory {path} cannot be created: {probe} is not a directory.')
  if not os.access(probe, os.W_OK | os.X_OK):
    raise WorkdirError(f'work directory {path} is not writable (no write permission on {probe}).')


@contextlib.contextmanager
def phase_lock(directory: str):
  """Exclusive lock on directory/.lock for the lifetime of a training process.

  flock locks die with their process, so a killed run never leaves a stale lock.
  """
  try:
    os.makedirs(directory, exist_ok=True)
  except OSError as e:  # e.g. under /proc, which passes the permission check
    raise WorkdirError(f'work directory {directory} cannot be created ({e.strerror}); choose '
                       'another --workdir.') from None
  path = os.path.join(directory, '.lock')
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno not in (errno.EAGAIN, errno.EACCES):
        raise
      owner = os.pread(fd, 64, 0).decode(errors='replace').strip() or 'unknown'
      raise WorkdirError(f'another training process (pid {owner}) is using {directory}; wait for it '
                         'to finish or use another --workdir.') from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    yield
  finally:
    os.close(fd)


class StopSignal:
  """Records SIGTERM (preemption) so the loop can checkpoint and exit cleanly."""

  def __init__(self):
    self.received = False
    self._previous = None

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def _handle(self, signum, frame):
    del signum, frame
    self.received = True

  def reached(self, step: int) -> bool:
    """Whether to checkpoint and stop after `step` (the loop asks after every step)."""
    del step
    return self.received

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
    return False
