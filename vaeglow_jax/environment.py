"""The process-wide settings, made by one explicit call: `configure()`.

Importing the library changes nothing outside it (no environment variable, no `sys.modules`
entry; `tests/test_layers.py` checks). Entry points call `configure()` first thing in `main()`,
as flax's imagenet example does its set-up; a program that uses the library on gs:// paths calls
it before its first path.
"""

from __future__ import annotations

import os

from vaeglow_jax import storage


def configure(environ: dict = os.environ, quiet_tensorflow: bool = True) -> storage.Settings:
  """Point the object-store clients at the endpoint and project of `storage.settings()`, and,
  with `quiet_tensorflow`, set TF_CPP_MIN_LOG_LEVEL=2 (TensorFlow's C++ warnings off; importing
  jax sets it to 1 when unset, so a default would not take). Before TensorFlow is imported.
  Idempotent. -> the storage settings."""
  if quiet_tensorflow:
    environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
  settings = storage.settings(environ)
  storage.configure_clients(settings, environ)
  return settings
