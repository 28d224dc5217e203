"""The API reference builds (scripts/docs.sh: pdoc, Python warnings as errors) with a page for every
module, and every public name the package exports, and every module-level call a researcher
makes on its models, has a docstring."""

import importlib
import inspect
import os
import pkgutil
import subprocess

import vaeglow_jax
from tests.helpers import ROOT


def test_the_api_reference_builds_with_warnings_as_errors_and_has_every_module(tmp_path):
  out = tmp_path / 'api'
  result = subprocess.run(['bash', os.path.join(ROOT, 'scripts', 'docs.sh'), str(out)],
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  modules = ['vaeglow_jax'] + [m.name for m in pkgutil.walk_packages(vaeglow_jax.__path__,
                                                                     'vaeglow_jax.')]
  missing = [m for m in modules if not (out / (m.replace('.', '/') + '.html')).is_file()]
  assert not missing, missing
  page = (out / 'vaeglow_jax' / 'models' / 'glow.html').read_text()
  assert 'K flow steps at one scale with no split' in page  # GlowLayer's docstring


def test_every_exported_name_and_the_models_calls_have_docstrings():
  missing = []
  for name in vaeglow_jax.__all__:
    obj = getattr(vaeglow_jax, name)
    if not inspect.getdoc(obj):
      missing.append(name)
  for package in ('models', 'flows', 'layers'):
    for info in pkgutil.walk_packages([os.path.join(os.path.dirname(vaeglow_jax.__file__), package)],
                                      f'vaeglow_jax.{package}.'):
      module = importlib.import_module(info.name)
      if not module.__doc__:
        missing.append(info.name)
      for attr, obj in vars(module).items():
        if attr.startswith('_') or getattr(obj, '__module__', None) != info.name:
          continue
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and not obj.__doc__:
          missing.append(f'{info.name}.{attr}')
        if inspect.isclass(obj) and inspect.isfunction(vars(obj).get('__call__')) and \
            not obj.__call__.__doc__:
          missing.append(f'{info.name}.{attr}.__call__')
  assert missing == []
