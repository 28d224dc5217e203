"""Run safety: work-directory checks, a per-phase lock, and SIGTERM handling."""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import threading

from absl import logging

from vaeglow_jax import storage
from vaeglow_jax.errors import WorkdirError

# The errors of a storage that cannot take more: disk full, quota exceeded, read-only, no
# permission (a folder made read-only mid-run), file too large.
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG)


def _chain(error: BaseException | None):
  """`error`, then the exceptions it was raised from or during, however deep (Orbax, TensorStore
  and the storage clients wrap the one that says what happened)."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    yield error
    error = error.__cause__ or error.__context__


def storage_error(error: BaseException) -> OSError | None:
  """The OSError of a full or read-only storage behind `error` (anywhere in its chain), else
  None."""
  for error in _chain(error):
    if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
      return error
    # TensorStore (Orbax's arrays) raises ValueError('RESOURCE_EXHAUSTED: Failed writing: "PATH":
    # ... [os_error_code=28]'), not an OSError.
    code = re.search(r"os_error_code='?(\d+)", str(error))
    if code and int(code.group(1)) in STORAGE_ERRNOS:
      path = re.search(r'Failed \w+: "([^"]+)"', str(error))
      return OSError(int(code.group(1)), os.strerror(int(code.group(1))),
                     path.group(1) if path else None)
  return None


# Exceptions (by class name, anywhere in the chain) that mean the object store did not answer:
# aiohttp's (gcsfs), requests' and google-api-core's (google-cloud-storage), and the OS's own.
_UNREACHABLE = ('ClientConnectorError', 'ClientOSError', 'ServerDisconnectedError',
                'ServerTimeoutError', 'ConnectionError', 'ConnectionRefusedError',
                'ConnectionResetError', 'RetryError', 'ServiceUnavailable', 'ConnectTimeout',
                'ReadTimeout', 'TimeoutError')


def unreachable_error(error: BaseException) -> BaseException | None:
  """The exception behind `error` that says the object store could not be reached (an outage,
  no network), else None. TensorStore's says 'UNAVAILABLE' in its message."""
  for error in _chain(error):
    names = {cls.__name__ for cls in type(error).__mro__}
    if names & set(_UNREACHABLE) or str(error).startswith(('UNAVAILABLE', 'DEADLINE_EXCEEDED')):
      return error
  return None


def first_line(error: BaseException) -> str:
  """The first line of an exception's message, at most 200 characters."""
  return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def storage_message(error: OSError, directory: str, needed_bytes: int | None, resume: str) -> str:
  """One line for a storage error while writing `directory`: what happened, the space free there
  and needed (local paths), and how the rerun resumes."""
  what = os.strerror(error.errno) if error.errno else str(error)
  space = ''
  if '://' not in directory:
    free = shutil.disk_usage(_existing_ancestor(directory)).free
    space = f'; {free / 1e6:.1f} MB free there' + (
        f', a checkpoint needs about {needed_bytes / 1e6:.1f} MB' if needed_bytes else '')
  return (f'cannot write {directory} ({what}{space}); free space or fix the permissions, then '
          f'rerun the same command: it resumes from {resume}.')


def _existing_ancestor(path: str) -> str:
  """`path` itself if it exists, else its nearest existing parent (local paths)."""
  while not os.path.exists(path) and os.path.dirname(path) != path:
    path = os.path.dirname(path)
  return path


# What must be undone if the process has to end at once (os._exit, which skips finally blocks
# and atexit): releasing a lock object, removing local temporary folders. Process-wide, as
# atexit is; distributed.peer_lost runs them.
_ABORT_HOOKS: list = []


@contextlib.contextmanager
def on_abort(hook):
  """Runs `hook()` if the process is ended at once (run_abort_hooks) within this block."""
  _ABORT_HOOKS.append(hook)
  try:
    yield
  finally:
    _ABORT_HOOKS.remove(hook)


def run_abort_hooks() -> None:
  """Runs the registered hooks, newest first; a failing hook does not stop the others."""
  for hook in reversed(list(_ABORT_HOOKS)):
    try:
      hook()
    except Exception as e:  # pylint: disable=broad-except  # the process ends anyway
      logging.warning('cleanup before exit failed: %s', e)


def check_writable(path: str) -> None:
  """Raises WorkdirError unless `path` is, or could be created as, a writable
  directory. Creates nothing. For a URL (gs://bucket/run): its bucket must exist; whether this
  client may write there shows only at the first write (the store has no side-effect-free check)."""
  if '://' in path:
    from vaeglow_jax import workdir as workdir_lib  # workdir imports this module
    bucket = workdir_lib.bucket_of(path)
    workdir_lib.check_reachable(path)
    if not workdir_lib.bucket_exists(path):
      raise WorkdirError(f'bucket {bucket} does not exist or is not visible with these credentials; '
                         f'create it (gcloud storage buckets create {bucket}) or fix --workdir.')
    return
  path = os.path.abspath(path)
  probe = _existing_ancestor(path)
  if not os.path.isdir(probe):
    raise WorkdirError(f'work directory {path} cannot be created: {probe} is not a directory.')
  if not os.access(probe, os.W_OK | os.X_OK):
    raise WorkdirError(f'work directory {path} is not writable (no write permission on {probe}).')


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
    self._abort = on_abort(self._release)
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


class StopSignal:
  """SIGTERM (preemption) or a first Ctrl-C (SIGINT): the loop checkpoints the current step and
  stops; a second Ctrl-C raises KeyboardInterrupt at once (Python's default), which keeps every
  checkpoint already saved (a save it cuts short is a temporary folder, removed by the rerun).

  sync: None for one process, which owns SIGTERM itself. Several processes: a
  distributed.PreemptionSync, since JAX's preemption notifier owns SIGTERM and agrees with the
  other processes on the step to stop at; a Ctrl-C is then passed on as SIGTERM to this process,
  so that a Ctrl-C reaching one process (a pod) or all of them (a local run) stops every process
  at one step with one checkpoint.
  """

  def __init__(self, sync=None):
    self.sync = sync
    self.reason = ''  # 'SIGTERM' or 'Ctrl-C' once one arrived here
    self._previous = {}

  @property
  def received(self) -> bool:
    return bool(self.reason)

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      signals = (signal.SIGINT,) if self.sync is not None else (signal.SIGINT, signal.SIGTERM)
      for signum in signals:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if signum == signal.SIGINT and self.reason == 'Ctrl-C':  # the second one: stop now
      signal.signal(signal.SIGINT, signal.default_int_handler)
      raise KeyboardInterrupt
    self.reason = self.reason or ('Ctrl-C' if signum == signal.SIGINT else 'SIGTERM')
    if signum == signal.SIGINT:
      logging.warning('Ctrl-C: checkpointing the current step, then stopping (a second Ctrl-C '
                      'stops at once, keeping the checkpoints already saved)')
    if signum == signal.SIGINT and self.sync is not None:
      os.kill(os.getpid(), signal.SIGTERM)  # to JAX's preemption notifier

  def reached(self, step: int) -> bool:
    """Whether to checkpoint and stop after `step` (the loop asks after every step; with several
    processes every process must ask)."""
    if self.sync is not None:
      return self.sync.reached(step)
    return self.received

  def describe(self) -> str:
    """What stopped the run, for its last line."""
    # Several processes: a Ctrl-C anywhere reaches the others as SIGTERM (to one of them).
    return self.reason or 'SIGTERM'

  def __exit__(self, *exc):
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    return False
