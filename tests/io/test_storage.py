"""vaeglow_jax.io.storage: every object-store client is built from one set of settings (endpoint,
project, credentials), read from the environment in one place."""

import fsspec
import gcsfs
import pytest
from google.auth import credentials as google_credentials

from vaeglow_jax.runtime import environment
from vaeglow_jax.io import storage


@pytest.fixture
def fresh_fsspec(monkeypatch):
  """fsspec's per-protocol defaults and instance cache, restored afterwards."""
  monkeypatch.setattr(fsspec.config, 'conf', {})
  gcsfs.GCSFileSystem.clear_instance_cache()
  yield
  gcsfs.GCSFileSystem.clear_instance_cache()


def test_an_emulator_address_and_a_project_reach_all_three_clients(fresh_fsspec):
  environ = {'STORAGE_EMULATOR_HOST': '127.0.0.1:9', 'GOOGLE_CLOUD_PROJECT': 'my-project'}
  settings = environment.configure(environ)
  assert settings == storage.Settings('http://127.0.0.1:9', 'my-project', emulator=True)
  # gcsfs (epath's gs:// backend): fsspec hands every new instance these defaults.
  fs = gcsfs.GCSFileSystem()
  assert (fs._endpoint, fs.project, fs.credentials.method) == (
      'http://127.0.0.1:9', 'my-project', 'anon')
  assert fs.dircache.use_listings_cache is False
  # TensorStore: its environment variables (it reads no other settings).
  assert environ['TENSORSTORE_GCS_HTTP_URL'] == 'http://127.0.0.1:9'
  assert environ['EPATH_USE_TF'] == 'false'
  # google-cloud-storage (the lock).
  client = storage.lock_client(settings)
  assert client.project == 'my-project'
  assert client._connection.API_BASE_URL == 'http://127.0.0.1:9'
  assert isinstance(client._credentials, google_credentials.AnonymousCredentials)


def test_on_google_cloud_every_client_uses_application_default_credentials(fresh_fsspec,
                                                                           monkeypatch):
  import google.auth
  adc = google_credentials.AnonymousCredentials()  # stands for the resolved ADC
  asked = []
  monkeypatch.setattr(google.auth, 'default',
                      lambda scopes=None, **_: (asked.append(scopes), (adc, 'adc-project'))[1])
  environ = {}
  settings = environment.configure(environ)
  assert settings == storage.Settings(storage.GOOGLE_ENDPOINT, None, emulator=False)
  assert storage.gcsfs_options(settings)['token'] == 'google_default'  # gcsfs asks google-auth
  assert 'TENSORSTORE_GCS_HTTP_URL' not in environ  # TensorStore: Google's endpoint, its ADC
  client = storage.lock_client(settings)
  assert client._credentials is adc and client.project == 'adc-project'
  assert client._connection.API_BASE_URL == storage.GOOGLE_ENDPOINT
  assert asked == [['https://www.googleapis.com/auth/devstorage.read_write']]
  # $GOOGLE_CLOUD_PROJECT wins over the credentials' project.
  named = storage.settings({'GOOGLE_CLOUD_PROJECT': 'billing-project'})
  assert storage.lock_client(named).project == 'billing-project'
