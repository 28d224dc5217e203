"""Files and folders at any path, local or on object storage (`gs://bucket/run`), and the
check that a path can be written.

All I/O goes through `etils.epath`, as Orbax's and TFDS's does. Writes are whole or not at all:
locally a temporary file renamed over the target; on object storage one object upload, which
the store makes visible atomically. gs:// paths reach the bucket through gcsfs (epath's fsspec
backend), Orbax's arrays through TensorStore: `io.storage` decides their endpoint, project and
credentials, and `runtime.environment.configure()` (which entry points call) hands these to
them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from typing import Any

from etils import epath

from vaeglow_jax.errors import WorkdirError
from vaeglow_jax.io import storage


PathLike = str | os.PathLike


def is_local(path: PathLike) -> bool:
  """Whether `path` is on this machine's file system (not a URL such as gs://...)."""
  return '://' not in os.fspath(path)


def join(path: PathLike, *parts: str) -> str:
  """path/part/...: a local path or a URL, as a string."""
  return os.fspath(epath.Path(path).joinpath(*parts))


def absolute(path: PathLike) -> str:
  """An absolute local path (Orbax needs one), or the URL unchanged."""
  return os.path.abspath(path) if is_local(path) else os.fspath(path)


def basename(path: PathLike) -> str:
  return epath.Path(path).name


def dirname(path: PathLike) -> str:
  return os.fspath(epath.Path(path).parent)


def exists(path: PathLike) -> bool:
  return epath.Path(path).exists()


def is_file(path: PathLike) -> bool:
  return epath.Path(path).is_file()


def is_dir(path: PathLike) -> bool:
  return epath.Path(path).is_dir()


def list_dir(path: PathLike) -> list[str]:
  """The names in directory `path`, sorted; [] if it does not exist."""
  directory = epath.Path(path)
  return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def modified_time(path: PathLike) -> float:
  """Seconds since the epoch at which `path` was last written."""
  return float(epath.Path(path).stat().mtime)


def tree_bytes(path: PathLike) -> int:
  """The total size in bytes of the files under the folder `path`."""
  return sum(tree_bytes(p) if p.is_dir() else p.stat().length for p in epath.Path(path).iterdir())


def make_dirs(path: PathLike) -> None:
  epath.Path(path).mkdir(parents=True, exist_ok=True)


def remove_tree(path: PathLike) -> None:
  """Deletes `path` and everything under it, if it exists."""
  target = epath.Path(path)
  if target.is_dir():
    target.rmtree()
  elif target.exists():
    target.unlink()


def copy_tree(source: PathLike, destination: PathLike, skip: tuple[str, ...] = ()) -> list[str]:
  """Copies the files under `source` to the same relative paths under `destination` (either may
  be local or a URL), each written whole; files already there are overwritten. `skip`: folders,
  relative to `source`, whose files are not copied. -> the relative paths copied."""
  root = epath.Path(source)
  names = [name for name, _, _ in _listing(source)
           if not any(name.startswith(folder.rstrip('/') + '/') for folder in skip)]
  for name in names:
    write_bytes_atomic(join(destination, name), root.joinpath(name).read_bytes())
  return names


def move_tree(source: PathLike, destination: PathLike) -> None:
  """Moves folder `source` to `destination` (which must not exist): a rename on local disk; on
  object storage a copy of every file, then the source deleted."""
  if is_local(source) and is_local(destination):
    os.makedirs(os.path.dirname(os.path.abspath(os.fspath(destination))), exist_ok=True)
    os.rename(source, destination)
    return
  copy_tree(source, destination)
  remove_tree(source)


def move_files(source: PathLike, destination: PathLike, skip: tuple[str, ...] = ()) -> list[str]:
  """Moves each file of folder `source` (not recursive; names in `skip` stay) to the same name
  under `destination`: written whole there, then deleted here. Raises at the first failed write,
  and the files not yet moved stay. -> the names moved."""
  moved = []
  for path in sorted(epath.Path(source).iterdir(), key=lambda p: p.name):
    if path.name in skip or path.is_dir():
      continue
    write_bytes_atomic(join(destination, path.name), path.read_bytes())
    path.unlink()
    moved.append(path.name)
  return moved


@contextlib.contextmanager
def local_copy(directory: PathLike, pattern: str = 'events.out.tfevents.*'):
  """Yields a local directory with `directory`'s files that match `pattern` (not recursive): the
  directory itself if local, else a temporary copy, deleted afterwards. For readers that only
  read local files (TensorBoard's)."""
  if is_local(directory):
    yield os.fspath(directory)
    return
  with tempfile.TemporaryDirectory(prefix='vaeglow_copy_') as local:
    source = epath.Path(directory)
    if source.is_dir():
      for path in source.glob(pattern):
        write_bytes_atomic(os.path.join(local, path.name), path.read_bytes())
    yield local


def list_files(source: PathLike) -> list[str]:
  """The relative paths of every file under the folder `source`, sorted."""
  return [name for name, _, _ in _listing(source)]


def _listing(source: PathLike) -> list[tuple[str, int, float]]:
  """(relative path, size in bytes, modified time) of every file under the folder `source`."""
  entries = []

  def walk(directory: epath.Path, relative: str) -> None:
    for path in directory.iterdir():
      name = f'{relative}/{path.name}' if relative else path.name
      if path.is_dir():
        walk(path, name)
      else:
        stat = path.stat()
        entries.append((name, int(stat.length), float(stat.mtime)))

  walk(epath.Path(source), '')
  return sorted(entries)


def cached_copy(source: PathLike, cache_root: str | None = None,
                keep: Any = None) -> str:
  """A local copy of the folder `source` (a URL), made once per machine and per version of its
  contents: cache_root (default <tmp>/vaeglow_data)/<hash of source and of its listing (names,
  sizes, times)>/<basename of source>. -> that local path.

  `source` is listed at every call: files written again there (a dataset prepared anew) make a
  new copy, never a stale one. `keep(relative path) -> bool` copies only the files it accepts.
  A copy is used only once complete: it is made in a temporary folder, marked complete, then
  renamed into place; of concurrent copies on one machine the first rename wins. Raises
  FileNotFoundError if `source` is not a folder (or its bucket is missing)."""
  import hashlib
  import shutil
  if not bucket_exists(source) or not is_dir(source):
    raise FileNotFoundError(f'{os.fspath(source)} is not a folder')
  listing = [entry for entry in _listing(source) if keep is None or keep(entry[0])]
  cache_root = cache_root or os.path.join(tempfile.gettempdir(), 'vaeglow_data')
  key = hashlib.sha256(json.dumps([os.fspath(source), listing]).encode()).hexdigest()[:16]
  local = os.path.join(cache_root, key)
  target = os.path.join(local, basename(source))
  if os.path.exists(os.path.join(local, '.complete')):
    return target
  os.makedirs(cache_root, exist_ok=True)
  partial = tempfile.mkdtemp(prefix='partial_', dir=cache_root)
  for relative, _, _ in listing:
    write_bytes_atomic(os.path.join(partial, basename(source), relative),
                       epath.Path(source).joinpath(relative).read_bytes())
  write_text_atomic(os.path.join(partial, '.complete'), os.fspath(source) + '\n')
  try:
    os.rename(partial, local)
  except OSError:  # another process on this machine finished first
    shutil.rmtree(partial, ignore_errors=True)
  return target


def bucket_of(url: PathLike) -> str:
  """'gs://bucket' of 'gs://bucket/run/...'."""
  scheme, rest = os.fspath(url).split('://', 1)
  return f'{scheme}://{rest.split("/", 1)[0]}'


def check_reachable(url: PathLike, timeout_seconds: float = 5.0) -> None:
  """Raises WorkdirError, within about `timeout_seconds`, if the endpoint of `url`'s bucket
  cannot be reached (no network, a wrong emulator address): the storage clients would retry
  for minutes, then print a stack of aiohttp errors."""
  import socket
  import urllib.parse
  endpoint = storage.settings().endpoint
  parsed = urllib.parse.urlparse(endpoint if '://' in endpoint else f'http://{endpoint}')
  port = parsed.port or (443 if parsed.scheme == 'https' else 80)
  try:
    socket.create_connection((parsed.hostname, port), timeout=timeout_seconds).close()
  except OSError as e:
    raise WorkdirError(f'cannot reach the storage endpoint {endpoint} of bucket {bucket_of(url)} '
                       f'({e.strerror or e}); check the network (or $STORAGE_EMULATOR_HOST) and '
                       'rerun.') from None


def bucket_exists(url: PathLike) -> bool:
  """Whether the bucket of `url` (scheme://bucket/...) exists and is visible to this client."""
  return epath.Path(bucket_of(url)).exists()


def read_text(path: PathLike) -> str:
  return epath.Path(path).read_text()


def read_bytes(path: PathLike) -> bytes:
  return epath.Path(path).read_bytes()


def read_json(path: PathLike, default: Any = None) -> Any:
  """The JSON in `path`, or `default` if the file does not exist. Invalid JSON is a WorkdirError
  naming the file (e.g. one cut short by a kill, or a hand edit)."""
  try:  # one request, not an existence check and then a read (each a round trip to a bucket)
    text = read_text(path)
  except (FileNotFoundError, NotADirectoryError, IsADirectoryError):  # no such file
    return default
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise WorkdirError(f'{os.fspath(path)} is not valid JSON ({e.msg} at line {e.lineno}, e.g. a '
                       'run killed while writing it); restore it from a copy, or delete it if it '
                       'can be recomputed.') from e


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
  """Writes `path` whole or not at all: a kill never leaves half a file for the next run.
  The parent directory is created if missing."""
  target = epath.Path(path)
  if not is_local(path):  # one object upload: visible whole or not at all; no folders to make
    target.write_bytes(data)
    return
  target.parent.mkdir(parents=True, exist_ok=True)
  tmp = target.with_name(target.name + '.tmp')
  tmp.write_bytes(data)
  os.replace(tmp, target)


def write_text_atomic(path: PathLike, text: str) -> None:
  write_bytes_atomic(path, text.encode())


def write_json_atomic(path: PathLike, value: Any, indent: int | None = 1) -> None:
  write_text_atomic(path, json.dumps(value, indent=indent, sort_keys=True) + '\n')


def write_npz_atomic(path: PathLike, arrays: dict) -> None:
  """np.savez_compressed(path, **arrays), whole or not at all."""
  import numpy as np
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **arrays)
  write_bytes_atomic(path, buffer.getvalue())


def write_png(path: PathLike, image) -> None:
  """A uint8 (H, W), (H, W, 1) or (H, W, 3) array as a PNG file."""
  import numpy as np
  from PIL import Image
  image = np.asarray(image)
  buffer = io.BytesIO()
  Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image).save(
      buffer, format='png')
  write_bytes_atomic(path, buffer.getvalue())


def write_figure(path: PathLike, figure, **savefig_kwargs) -> None:
  """A matplotlib figure saved to `path` (its format from the extension)."""
  buffer = io.BytesIO()
  figure.savefig(buffer, format=os.path.splitext(os.fspath(path))[1][1:] or 'png', **savefig_kwargs)
  write_bytes_atomic(path, buffer.getvalue())


def existing_ancestor(path: str) -> str:
  """`path` itself if it exists, else its nearest existing parent (local paths)."""
  while not os.path.exists(path) and os.path.dirname(path) != path:
    path = os.path.dirname(path)
  return path


def free_bytes(path: str) -> int:
  """Bytes free on the file system that holds local `path` (or would hold it)."""
  import shutil  # pylint: disable=import-outside-toplevel
  return shutil.disk_usage(existing_ancestor(path)).free


def check_writable(path: str) -> None:
  """Raises WorkdirError unless `path` is, or could be created as, a writable
  directory. Creates nothing. For a URL (gs://bucket/run): its bucket must exist; whether this
  client may write there shows only at the first write (the store has no side-effect-free check)."""
  if '://' in path:
    bucket = bucket_of(path)
    check_reachable(path)
    if not bucket_exists(path):
      raise WorkdirError(f'bucket {bucket} does not exist or is not visible with these credentials; '
                         f'create it (gcloud storage buckets create {bucket}) or fix --workdir.')
    return
  path = os.path.abspath(path)
  probe = existing_ancestor(path)
  if not os.path.isdir(probe):
    raise WorkdirError(f'work directory {path} cannot be created: {probe} is not a directory.')
  if not os.access(probe, os.W_OK | os.X_OK):
    raise WorkdirError(f'work directory {path} is not writable (no write permission on {probe}).')
