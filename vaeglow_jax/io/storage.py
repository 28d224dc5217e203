"""How this process reaches object storage: one endpoint, one project and one credential source,
decided here, and every client that touches a bucket built from them.

The clients: gcsfs (every work-directory file, through epath's fsspec backend), the
google-cloud-storage client (the training lock, for its generation preconditions), and
TensorStore (Orbax's checkpoint arrays).

- Endpoint: $STORAGE_EMULATOR_HOST (a local emulator, as in the tests), else Google's.
- Project: $GOOGLE_CLOUD_PROJECT, else the project of the credentials. Only bucket-level calls use
  it; reading and writing objects does not.
- Credentials: Google's Application Default Credentials, in their order: the key file named by
  $GOOGLE_APPLICATION_CREDENTIALS, then `gcloud auth application-default login`'s file, then the
  machine's service account (a TPU VM's, from the metadata server). gcsfs and
  google-cloud-storage resolve them through google-auth; TensorStore reads the same three
  sources itself (it takes no credentials object). An emulator gets none (anonymous).

`configure_clients()` (called by `environment.configure()`, which entry points call) hands these
to gcsfs and TensorStore; `lock_bucket()` builds the lock's client from them.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping

GOOGLE_ENDPOINT = 'https://storage.googleapis.com'


@dataclasses.dataclass(frozen=True)
class Settings:
  endpoint: str  # URL of the JSON API, e.g. https://storage.googleapis.com or http://127.0.0.1:PORT
  project: str | None  # None: the credentials' own project
  emulator: bool  # anonymous access to a local emulator


def settings(environ: Mapping[str, str] = os.environ) -> Settings:
  """The settings every client is built from, read from `environ`."""
  emulator = environ.get('STORAGE_EMULATOR_HOST', '')
  if emulator and '://' not in emulator:
    emulator = f'http://{emulator}'
  return Settings(endpoint=emulator or GOOGLE_ENDPOINT,
                  project=environ.get('GOOGLE_CLOUD_PROJECT') or None, emulator=bool(emulator))


def gcsfs_options(s: Settings) -> dict:
  """gcsfs.GCSFileSystem's keyword arguments for `s` (fsspec applies them to every instance)."""
  options = {'endpoint_url': s.endpoint, 'token': 'anon' if s.emulator else 'google_default',
             # No cached listings: other processes, and TensorStore in this one, write the same
             # bucket, and a cached listing hides what they wrote (another host's checkpoint).
             'use_listings_cache': False}
  return {**options, 'project': s.project} if s.project else options


def configure_clients(s: Settings, environ: dict = os.environ) -> None:
  """Points gcsfs (through fsspec's per-protocol defaults) and TensorStore (its environment
  variable) at `s`. Before the first gs:// path: epath caches its choice of client."""
  import fsspec
  fsspec.config.conf['gs'] = {**fsspec.config.conf.get('gs', {}), **gcsfs_options(s)}
  # epath's fsspec backend (gcsfs), not TensorFlow's GCS client, whose endpoint is fixed; a
  # user's own choice wins. gcsfs's zonal-bucket layer first asks the Storage Control API (gRPC)
  # for each bucket's type; off, gcsfs uses the JSON API only, the one tested.
  environ.setdefault('EPATH_USE_TF', 'false')
  environ.setdefault('GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT', 'false')
  if s.emulator:
    environ['TENSORSTORE_GCS_HTTP_URL'] = s.endpoint
    environ.setdefault('GOOGLE_AUTH_TOKEN_FOR_TESTING', 'anonymous')  # TensorStore asks no server


def lock_client(s: Settings):
  """The google-cloud-storage client for `s` (the training lock's)."""
  from google.cloud import storage
  if s.emulator:
    from google.auth import credentials
    return storage.Client(project=s.project or 'emulator',
                          credentials=credentials.AnonymousCredentials(),
                          client_options={'api_endpoint': s.endpoint})
  import google.auth
  creds, project = google.auth.default(
      scopes=['https://www.googleapis.com/auth/devstorage.read_write'])
  return storage.Client(project=s.project or project, credentials=creds,
                        client_options={'api_endpoint': s.endpoint})
