"""What a failure is, and what to undo when the process must end at once.

Storage that cannot take more (disk full, quota, read-only, no permission) and an object store
that does not answer are recognised anywhere in an exception's chain (`storage_error`,
`unreachable_error`) and described in one line; `on_abort` registers what `run_abort_hooks`
undoes before an immediate exit (a lock object released, temporary folders removed).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re

from absl import logging

from vaeglow_jax.io import files


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
    free = files.free_bytes(directory)
    space = f'; {free / 1e6:.1f} MB free there' + (
        f', a checkpoint needs about {needed_bytes / 1e6:.1f} MB' if needed_bytes else '')
  return (f'cannot write {directory} ({what}{space}); free space or fix the permissions, then '
          f'rerun the same command: it resumes from {resume}.')


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
