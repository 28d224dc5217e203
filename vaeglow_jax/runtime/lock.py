"""One run per phase: a per-phase lock, a file lock (flock) locally and a heartbeat object on
object storage, which a run killed without releasing it leaves stale after `stale_seconds`.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import threading

from absl import logging

from vaeglow_jax.errors import WorkdirError
from vaeglow_jax.io import storage
from vaeglow_jax.runtime import failures


def phase_lock(directory: str, stale_seconds: float = 120.0):
  """Exclusive lock on directory/.lock for the lifetime of a training process: a context manager.

  Local: an flock, which dies with its process, so a killed run never leaves a stale lock.
  Object storage (gs://...): ObjectLock, which a killed run leaves behind, stale after
  `stale_seconds` without a heartbeat.
  """
  if '://' in directory:
    return ObjectLock(f'{directory}/.lock', stale_seconds)
  return _file_lock(directory)


def lock_holder(directory: str, stale_seconds: float = 120.0) -> str | None:
  """Who holds directory/.lock now ('pid N', 'pid N on HOST'), or None if no live run does.
  Takes nothing: a local flock is tried and released at once; a lock object is read."""
  if '://' in directory:
    bucket, _, name = f'{directory}/.lock'.split('://', 1)[1].partition('/')
    held = storage.lock_client(storage.settings()).bucket(bucket).get_blob(name)
    if held is None:
      return None
    age = (datetime.datetime.now(datetime.timezone.utc) - held.updated).total_seconds()
    body = held.download_as_bytes()
    return None if age >= stale_seconds or _holder_is_dead(body) else _describe_holder(body)
  path = os.path.join(directory, '.lock')
  if not os.path.exists(path):
    return None
  fd = os.open(path, os.O_RDONLY)
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    fcntl.flock(fd, fcntl.LOCK_UN)
    return None
  except OSError as e:
    if e.errno not in (errno.EAGAIN, errno.EACCES):
      raise
    return f'pid {os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"}'
  finally:
    os.close(fd)


def process_is_gone(host: str, pid: int) -> bool:
  """Whether process `pid` of `host` provably no longer runs: `host` is this machine and no
  process has that pid (another host's process cannot be judged from here: False)."""
  if host != socket.gethostname() or pid == os.getpid():
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return True
  except OSError:  # alive, another user's
    return False
  return False


def _holder_is_dead(body: bytes) -> bool:
  """Whether the lock's holder is provably gone: it ran on this host and its pid is not alive
  (a job restarted at once on the same host finds its killed predecessor's lock)."""
  try:
    holder = json.loads(body)
    return process_is_gone(holder['host'], int(holder['pid']))
  except Exception:  # pylint: disable=broad-except  # unreadable or not ours to judge: alive
    return False


def _describe_holder(body: bytes) -> str:
  try:
    holder = json.loads(body)
    return f'pid {holder["pid"]} on {holder["host"]}'
  except Exception:  # pylint: disable=broad-except  # the message only
    return 'unknown'


@contextlib.contextmanager
def _file_lock(directory: str):
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


class ObjectLock:
  """A lock object on Cloud Storage: created only if absent (generation precondition 0), with the
  holder's host and pid; a thread rewrites it every stale_seconds / 4 (the heartbeat), each time
  on the condition that it is still the generation this process wrote.

  Guarantees: of the runs that start together, one gets the lock, the others a WorkdirError. A
  lock not rewritten for `stale_seconds` (its holder was killed, or lost the network) is taken
  over by the next run, again by a generation precondition, so two runs cannot both take it
  over; the staleness is judged by the store's update time against this host's clock. A holder
  whose lock was taken over logs an error at its next heartbeat and stops rewriting it.
  """

  def __init__(self, url: str, stale_seconds: float):
    self.url = url
    self.stale_seconds = float(stale_seconds)
    bucket, _, self._name = url.split('://', 1)[1].partition('/')
    self._bucket_name = bucket
    self._generation = None
    self._stopped = threading.Event()
    self._thread = None
    self.lost = False

  def _bucket(self):
    return storage.lock_client(storage.settings()).bucket(self._bucket_name)

  def _body(self) -> str:
    return json.dumps({'host': socket.gethostname(), 'pid': os.getpid()})

  def _write(self, bucket, generation_match: int) -> int:
    blob = bucket.blob(self._name)
    blob.upload_from_string(self._body(), content_type='application/json',
                            if_generation_match=generation_match, **self._deadline())
    return blob.generation

  def _deadline(self) -> dict:
    """Timeout and retry of one lock request: within a heartbeat interval, not the client's
    default 120 s (a run that cannot reach its bucket would otherwise wait that long to end)."""
    from google.api_core import retry as retries
    seconds = max(5.0, self.stale_seconds / 4)
    return {'timeout': seconds, 'retry': retries.Retry(timeout=seconds)}

  def __enter__(self):
    from google.api_core import exceptions
    bucket = self._bucket()
    try:
      self._generation = self._write(bucket, 0)
    except exceptions.PreconditionFailed:
      held = bucket.get_blob(self._name)
      if held is None:  # released meanwhile
        return self.__enter__()
      age = (datetime.datetime.now(datetime.timezone.utc) - held.updated).total_seconds()
      body = held.download_as_bytes()
      holder = _describe_holder(body)
      if age < self.stale_seconds and not _holder_is_dead(body):
        raise WorkdirError(
            f'another training process ({holder}) holds {self.url} (its heartbeat {age:.0f} s '
            f'ago); wait for it to finish or use another --workdir (a killed run\'s lock is taken '
            f'over {self.stale_seconds:.0f} s after its last heartbeat).') from None
      try:
        self._generation = self._write(bucket, held.generation)
      except exceptions.PreconditionFailed:
        raise WorkdirError(f'another training process took over the stale lock {self.url} just '
                           'now; wait for it to finish or use another --workdir.') from None
      logging.warning('took over the lock %s (%s, last heartbeat %.0f s ago, %s)', self.url,
                      holder, age, 'its process is gone' if age < self.stale_seconds else 'stale')
    self._thread = threading.Thread(target=self._heartbeat, args=(bucket,), daemon=True)
    self._thread.start()
    self._abort = failures.on_abort(self._release)
    self._abort.__enter__()
    return self

  def _release(self):
    """Deletes the lock object if it is still this process's (a lost lock is another's)."""
    self._stopped.set()
    if not self.lost:
      self._bucket().blob(self._name).delete(if_generation_match=self._generation,
                                             **self._deadline())
      self.lost = True  # released: nothing more to delete

  def _heartbeat(self, bucket):
    from google.api_core import exceptions
    while not self._stopped.wait(self.stale_seconds / 4):
      try:
        self._generation = self._write(bucket, self._generation)
      except exceptions.PreconditionFailed:
        self.lost = True
        logging.error('lost the lock %s: another run took it over as stale; this run no longer '
                      'excludes others from the work directory', self.url)
        return
      except Exception as e:  # pylint: disable=broad-except  # the store is away: retry later
        logging.warning('could not renew the lock %s (%s); retrying', self.url, e)

  def __exit__(self, *exc):
    self._abort.__exit__(None, None, None)
    self._stopped.set()
    if self._thread is not None:
      self._thread.join()
    try:
      self._release()
    except Exception as e:  # pylint: disable=broad-except  # it goes stale instead
      logging.warning('could not remove the lock %s (%s); the next run takes it over after '
                      '%.0f s', self.url, e, self.stale_seconds)
    return False
