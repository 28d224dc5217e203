"""The built wheel holds every library module, and they import from it alone."""

import os
import pkgutil
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _library_modules():
  """Every module under vaeglow_jax/ in the source tree, by dotted name."""
  names = ['vaeglow_jax']
  for info in pkgutil.walk_packages([os.path.join(ROOT, 'vaeglow_jax')], prefix='vaeglow_jax.'):
    names.append(info.name)
  return sorted(names)


@pytest.mark.slow
def test_wheel_contains_and_imports_every_module(tmp_path):
  # Build from a copy of the sources, so the checkout gets no build/ or egg-info folders.
  source = tmp_path / 'source'
  source.mkdir()
  for name in ('setup.cfg', 'pyproject.toml', 'README.md'):
    shutil.copy(os.path.join(ROOT, name), source / name)
  shutil.copytree(os.path.join(ROOT, 'vaeglow_jax'), source / 'vaeglow_jax',
                  ignore=shutil.ignore_patterns('__pycache__'))
  # No build isolation and no dependencies: nothing is downloaded.
  build = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                          '-q', '-w', str(tmp_path / 'dist'), str(source)],
                         capture_output=True, text=True, timeout=600)
  assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
  wheels = list((tmp_path / 'dist').glob('vaeglow_jax-*.whl'))
  assert len(wheels) == 1, wheels
  modules = _library_modules()
  with zipfile.ZipFile(wheels[0]) as archive:
    files = set(archive.namelist())
  missing = [m for m in modules
             if f"{m.replace('.', '/')}.py" not in files and f"{m.replace('.', '/')}/__init__.py" not in files]
  assert not missing, f'modules missing from the wheel: {missing}'
  assert not any(f.startswith(('tests/', 'experiments/', 'benchmarks/')) for f in files)

  # Install the wheel alone (--no-deps) into an empty folder and import every module from it,
  # run from outside the checkout so the source tree is not on the path.
  site = tmp_path / 'site'
  install = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q',
                            '--target', str(site), str(wheels[0])],
                           capture_output=True, text=True, timeout=600)
  assert install.returncode == 0, install.stderr[-2000:]
  code = ('import importlib, sys\n'
          f'site = {str(site)!r}\n'
          f'for name in {modules!r}:\n'
          '  module = importlib.import_module(name)\n'
          '  assert module.__file__.startswith(site), (name, module.__file__)\n'
          'print(len(sys.modules))\n')
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env['PYTHONPATH'] = str(site)
  imported = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
  assert imported.returncode == 0, imported.stderr[-3000:]


def test_the_module_list_sees_subpackages():
  # Guards the walk above: a missed sub-package would make the wheel test pass vacuously.
  modules = _library_modules()
  assert {'vaeglow_jax.losses', 'vaeglow_jax.flows.coupling', 'vaeglow_jax.metrics.fid'} <= set(modules)
