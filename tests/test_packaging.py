"""The built wheel holds every library module and no top-level `experiments`; they import from it
alone, and the console scripts run with configs by name."""

import os
import pkgutil
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _library_modules():
  """Every module under vaeglow_jax/ in the source tree, by dotted name."""
  names = ['vaeglow_jax']
  for info in pkgutil.walk_packages([os.path.join(ROOT, 'vaeglow_jax')], prefix='vaeglow_jax.'):
    names.append(info.name)
  return sorted(names)


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
  """The wheel built from a copy of the sources (the checkout gets no build/ or egg-info)."""
  tmp_path = tmp_path_factory.mktemp('wheel')
  source = tmp_path / 'source'
  source.mkdir()
  for name in ('setup.cfg', 'pyproject.toml', 'README.md', 'LICENSE'):
    shutil.copy(os.path.join(ROOT, name), source / name)
  for package in ('vaeglow_jax',):
    shutil.copytree(os.path.join(ROOT, package), source / package,
                    ignore=shutil.ignore_patterns('__pycache__'))
  # No build isolation and no dependencies: nothing is downloaded.
  build = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                          '-q', '-w', str(tmp_path / 'dist'), str(source)],
                         capture_output=True, text=True, timeout=600)
  assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
  wheels = list((tmp_path / 'dist').glob('vaeglow_jax-*.whl'))
  assert len(wheels) == 1, wheels
  return wheels[0]


@pytest.mark.slow
def test_wheel_contains_and_imports_every_module(wheel, tmp_path):
  wheels = [wheel]
  modules = _library_modules()
  with zipfile.ZipFile(wheels[0]) as archive:
    files = set(archive.namelist())
  missing = [m for m in modules
             if f"{m.replace('.', '/')}.py" not in files and f"{m.replace('.', '/')}/__init__.py" not in files]
  assert not missing, f'modules missing from the wheel: {missing}'
  assert not any(f.startswith(('tests/', 'benchmarks/', 'experiments/')) for f in files)
  assert {'vaeglow_jax/py.typed', 'vaeglow_jax/cli/sample.py', 'vaeglow_jax/presets/fashion_mnist.py'} <= files
  info = next(f for f in files if f.endswith('.dist-info/entry_points.txt'))
  with zipfile.ZipFile(wheels[0]) as archive:
    entry_points = archive.read(info).decode()
    assert any(f.endswith('.dist-info/licenses/LICENSE') or f.endswith('.dist-info/LICENSE')
               for f in archive.namelist())
  for script, target in (('vaeglow-train', 'vaeglow_jax.cli.train:run'),
                         ('vaeglow-evaluate', 'vaeglow_jax.cli.evaluate:run'),
                         ('vaeglow-sample', 'vaeglow_jax.cli.sample:run'),
                         ('vaeglow-verify', 'vaeglow_jax.cli.verify:run'),
                         ('vaeglow-features', 'vaeglow_jax.cli.train_feature_extractor:run')):
    assert f'{script} = {target}' in entry_points

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
  assert {'vaeglow_jax.models.losses', 'vaeglow_jax.flows.coupling', 'vaeglow_jax.evaluation.metrics.fid'} <= set(modules)


@pytest.mark.slow
def test_the_core_install_runs_the_readme_library_example(wheel, tmp_path):
  """`pip install vaeglow-jax` into a fresh venv (its core dependencies only: no TensorFlow,
  TFDS or clu) runs the README's library examples (the suite's only run of them, so that they
  never rot)."""
  venv = tmp_path / 'venv'
  # No pip of its own: this pip installs into it (--python), without byte-compiling (4x faster).
  subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True, timeout=300)
  python = str(venv / 'bin' / 'python')
  install = subprocess.run([sys.executable, '-m', 'pip', '--python', python, 'install', '-q',
                            '--no-compile', str(wheel), '-c', os.path.join(ROOT, 'requirements.lock')],
                           capture_output=True, text=True, timeout=900)
  assert install.returncode == 0, install.stderr[-3000:]
  with open(os.path.join(ROOT, 'README.md')) as f:
    section = f.read().split('## Use as a library\n', 1)[1].split('\n## ', 1)[0]
  blocks = re.findall(r'```python\n(.*?)```', section, flags=re.S)
  assert len(blocks) == 2
  script = tmp_path / 'readme_example.py'
  script.write_text('\n\n'.join(blocks) + textwrap.dedent('''
      import importlib.util, sys
      assert importlib.util.find_spec('tensorflow') is None, 'the core install pulled TensorFlow'
      assert 'tensorflow' not in sys.modules
      import vaeglow_jax
      assert vaeglow_jax.__file__.startswith(sys.prefix), vaeglow_jax.__file__
      print('ok', vaeglow_jax.__version__)
      '''))
  env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
  run = subprocess.run([python, str(script)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=600)
  assert run.returncode == 0, run.stderr[-3000:]
  assert run.stdout.strip().endswith('ok 0.2.0')


def _blocking_imports_of(packages) -> str:
  """Python source that makes importing any of `packages` (or their submodules) fail."""
  return textwrap.dedent(f'''
      import sys
      class Block:
        def find_spec(self, name, path=None, target=None):
          if name.split('.')[0] in {tuple(packages)!r}:
            raise ImportError(f'{{name}} is blocked in this test')
      sys.meta_path.insert(0, Block())
      ''')


def test_the_model_library_imports_without_tensorflow():
  """losses, flows, glow, model (and the package's re-exports) never import TensorFlow."""
  code = _blocking_imports_of(('tensorflow', 'tensorflow_datasets', 'clu')) + textwrap.dedent('''
      import vaeglow_jax
      from vaeglow_jax import flows, phases
      from vaeglow_jax.models import losses
      from vaeglow_jax.models import glow
      from vaeglow_jax.models import model
      from vaeglow_jax.models import vae
      from vaeglow_jax.models import prior
      assert vaeglow_jax.VAEGlow is model.VAEGlow and set(vaeglow_jax.__all__) <= set(dir(vaeglow_jax))
      print('ok')
      ''')
  run = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
  assert run.returncode == 0 and run.stdout.strip() == 'ok', run.stderr[-3000:]


@pytest.mark.parametrize('command,error', [
    (['experiments.train', '--config=tests/configs/tiny.py', '--config.learning_rate=-1'],
     'error: learning_rate must be positive, got -1.0.'),
    (['experiments.evaluate'], "error: no trained phase 'vae' in"),
])
def test_a_bad_input_is_answered_without_importing_tensorflow(tmp_path, command, error):
  """TensorFlow's import costs about 3 s: a command that stops at a bad input must not pay it
  (the TensorBoard writer and tf.data import it when they are first used)."""
  code = _blocking_imports_of(('tensorflow',)) + textwrap.dedent('''
      import runpy
      module = sys.argv[1]
      sys.argv = [module] + sys.argv[2:]
      runpy.run_module(module, run_name='__main__', alter_sys=True)
      ''')
  run = subprocess.run([sys.executable, '-c', code, *command, f'--workdir={tmp_path / "run"}'],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert run.returncode == 2, run.stderr[-3000:]
  assert run.stderr.strip().splitlines()[-1].startswith(error), run.stderr[-3000:]
  assert not (tmp_path / 'run').exists()


def _fresh_venv(tmp_path):
  venv = tmp_path / 'venv'
  subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True, timeout=300)
  return venv


@pytest.mark.slow
def test_the_train_extra_trains_evaluates_and_samples_through_the_console_scripts(wheel, tmp_path):
  """`pip install 'vaeglow-jax[train]'` into a fresh venv, then the console scripts on the tiny
  config and a config by name, from a user's project with an `experiments/` package of its own
  on PYTHONPATH; nothing of ours is importable as `experiments`."""
  venv = _fresh_venv(tmp_path)
  python = str(venv / 'bin' / 'python')
  install = subprocess.run([sys.executable, '-m', 'pip', '--python', python, 'install', '-q',
                            '--no-compile', f'{wheel}[train]', '-c',
                            os.path.join(ROOT, 'requirements.lock')],
                           capture_output=True, text=True, timeout=1200)
  assert install.returncode == 0, install.stderr[-3000:]
  freeze = subprocess.run([sys.executable, '-m', 'pip', '--python', python, 'freeze'],
                          capture_output=True, text=True, timeout=300).stdout.lower()
  assert 'tensorflow-cpu==' in freeze.replace('_', '-') and 'tensorboard==' in freeze
  assert '\ntensorflow==' not in '\n' + freeze  # the CPU build, not the full one
  project = tmp_path / 'project'
  (project / 'experiments').mkdir(parents=True)
  # The user's own package of that name, on PYTHONPATH: it must not hide the commands'.
  (project / 'experiments' / '__init__.py').write_text('')
  (project / 'experiments' / 'train.py').write_text('raise SystemExit("the user\'s experiments.train")\n')
  config = tmp_path / 'tiny.py'
  shutil.copy(os.path.join(ROOT, 'tests', 'configs', 'tiny.py'), config)
  env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
  env.update(JAX_PLATFORMS='cpu', PYTHONPATH=str(project))
  bin_dir = venv / 'bin'
  run_dir = str(tmp_path / 'run')

  def run(*command):
    result = subprocess.run([str(bin_dir / command[0]), *command[1:]], cwd=project, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (command, result.stderr[-3000:])
    return result

  usage = run('vaeglow-train', '--help').stdout
  assert 'Trains one phase of the model.' in usage and 'vaeglow-train --config=' in usage
  assert 'fashion_mnist: default, quick, smoke, tiny' in usage
  shown = run('vaeglow-train', '--config=fashion_mnist:smoke', '--show_config').stdout
  assert 'num_train_steps = 60' in shown
  wrong = subprocess.run([str(bin_dir / 'vaeglow-train'), '--config=fashion_mnist:quik',
                          f'--workdir={run_dir}'], cwd=project, env=env, capture_output=True,
                         text=True, timeout=300)
  assert wrong.returncode == 2 and wrong.stderr.strip().splitlines() == [
      "error: flag --config=fashion_mnist:quik: unknown preset 'quik'; did you mean 'quick'? "
      'This config has: default, quick, smoke, tiny, e.g. --config=fashion_mnist:quick.']
  ours = subprocess.run([python, '-c', 'import importlib.util as u; print(u.find_spec("experiments"))'],
                        cwd=tmp_path, env={**env, 'PYTHONPATH': ''}, capture_output=True, text=True,
                        timeout=300)
  assert ours.stdout.strip() == 'None', ours.stdout + ours.stderr  # no top-level package of ours
  for phase in ('vae', 'glow'):
    trained = run('vaeglow-train', f'--config={config}', f'--workdir={run_dir}',
                  f'--config.phase={phase}', '--config.num_devices=1', '--config.cpu_devices=1')
    # A log a person reads: no TensorFlow warnings (jax's TF_CPP_MIN_LOG_LEVEL=1 is overridden).
    assert len(trained.stderr.splitlines()) <= 16 and 'cache_dataset_ops' not in trained.stderr, \
        trained.stderr
  run('vaeglow-evaluate', f'--workdir={run_dir}', '--config.phase=glow', '--config.num_devices=1')
  run('vaeglow-sample', f'--workdir={run_dir}', '--num=4', '--config.num_devices=1')
  assert os.path.isfile(os.path.join(run_dir, 'eval', 'metrics.json'))
  assert len(os.listdir(os.path.join(run_dir, 'glow', 'samples_T0.5'))) == 5


@pytest.mark.slow
@pytest.mark.parametrize('extra, backend', [('cuda12', 'jax-cuda12-plugin'), ('tpu', 'libtpu')])
def test_the_accelerator_extras_resolve_at_the_cores_jax_version(wheel, tmp_path, extra, backend):
  """`pip install 'vaeglow-jax[cuda12]'` / `[tpu]` resolve, against the package index, to the
  jax version the core pins (requirements.lock) with its backend; nothing is installed."""
  report = tmp_path / 'report.json'
  resolve = subprocess.run([sys.executable, '-m', 'pip', 'install', '--dry-run', '-q',
                            '--ignore-installed', '--report', str(report), f'{wheel}[{extra}]',
                            'jax==' + _locked('jax')], capture_output=True, text=True, timeout=900)
  assert resolve.returncode == 0, resolve.stderr[-3000:]
  import json
  versions = {item['metadata']['name'].lower(): item['metadata']['version']
              for item in json.loads(report.read_text())['install']}
  assert versions['jax'] == versions['jaxlib'] == _locked('jax')
  assert backend in versions, sorted(versions)
  if extra == 'cuda12':
    assert versions['jax-cuda12-plugin'] == _locked('jax')


def _locked(name: str) -> str:
  """The version requirements.lock pins for `name`."""
  with open(os.path.join(ROOT, 'requirements.lock')) as f:
    return next(line.split('==')[1].strip() for line in f if line.lower().startswith(f'{name}=='))
