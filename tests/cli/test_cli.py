"""vaeglow_jax/cli/common.py: user errors are one line and exit 2; anything else keeps its trace."""

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

_SCRIPT = '''
import sys
from vaeglow_jax.cli import common as cli

class BadInput(ValueError):
  pass

def main(argv):
  raise {error}('{message}')

cli.run(main, ({user_errors},))
'''


def _run(error, message, user_errors='BadInput', *flags):
  code = _SCRIPT.format(error=error, message=message, user_errors=user_errors)
  return subprocess.run([sys.executable, '-c', code, *flags], cwd=ROOT, capture_output=True,
                        text=True, timeout=120)


def test_user_error_is_one_line_and_exit_2():
  result = _run('BadInput', 'batch_size 3 must be a multiple of 2.')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == 'error: batch_size 3 must be a multiple of 2.'
  assert 'Traceback' not in result.stderr


def test_user_error_keeps_its_trace_with_verbose():
  result = _run('BadInput', 'bad value', 'BadInput', '--verbose')
  assert result.returncode == 1 and 'Traceback' in result.stderr


@pytest.mark.parametrize('error', ['ValueError', 'KeyError'])
def test_a_bug_keeps_its_stack_trace(error):
  # A ValueError from deep inside JAX or the model is a bug, not bad input.
  result = _run(error, 'shapes (3,) and (4,) do not broadcast')
  assert result.returncode == 1
  assert 'Traceback' in result.stderr and 'do not broadcast' in result.stderr
  assert 'error: shapes' not in result.stderr


def test_builtin_exceptions_cannot_be_declared_user_errors():
  result = _run('BadInput', 'x', 'BadInput, ValueError')
  assert result.returncode == 1 and "not built-ins: ['ValueError']" in result.stderr


_DEFAULT_SCRIPT = '''
from vaeglow_jax.cli import common as cli
from vaeglow_jax.data import DataError

def main(argv):
  raise DataError('unknown dataset; choose one of [...].')

cli.run(main)
'''


def test_every_library_user_error_is_one_line_without_a_tuple():
  result = subprocess.run([sys.executable, '-c', _DEFAULT_SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 2 and 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == 'error: unknown dataset; choose one of [...].'


def test_every_library_error_class_is_a_user_error():
  # cli.run turns UserError into one line and exit 2: an error class of the library that is not
  # one would print a traceback for bad input. Found by walking the package, not listed by hand.
  import importlib
  import inspect
  import pkgutil
  import vaeglow_jax
  from vaeglow_jax.training import loop
  from vaeglow_jax.errors import UserError
  found = {}
  for info in pkgutil.walk_packages(vaeglow_jax.__path__, 'vaeglow_jax.'):
    module = importlib.import_module(info.name)
    for name, value in vars(module).items():
      if (inspect.isclass(value) and issubclass(value, Exception) and name.endswith('Error')
          and value.__module__.startswith('vaeglow_jax')):
        found[f'{value.__module__}.{value.__name__}'] = value
  assert len(found) >= 12, sorted(found)  # the walk sees the subpackages' classes too
  assert [n for n, c in sorted(found.items()) if not issubclass(c, UserError)] == []
  assert not issubclass(loop.Preempted, UserError)  # a stop, not bad input (exit 143)


def _command(*args, timeout=600):
  return subprocess.run([sys.executable, '-m', *args], cwd=ROOT, capture_output=True, text=True,
                        timeout=timeout)


def test_help_exits_0_with_the_commands_doc_its_flags_and_how_to_list_the_config_keys():
  for module in ('experiments.train', 'experiments.evaluate', 'experiments.sample'):
    result = _command(module, '--help')
    assert result.returncode == 0, result.stderr[-2000:]
    assert '--workdir' in result.stdout and '--show_config' in result.stdout
    assert f'python -m {module} --config=fashion_mnist:quick --show_config' in result.stdout
  assert _command('experiments.train', '--help').stdout.startswith('Trains one phase of the model.')


def test_configs_by_name_and_show_config_prints_every_key():
  from vaeglow_jax.cli import common as cli
  named = cli.resolve_config_names(['x', '--config=fashion_mnist:quick', '--config=a/b.py:q',
                                    '--config=nosuch'])
  assert named == ['x', f'--config={cli.CONFIGS_DIR}/fashion_mnist.py:quick', '--config=a/b.py:q',
                   '--config=nosuch']
  result = _command('experiments.train', '--config=fashion_mnist:quick', '--show_config',
                    '--config.seed=7')
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.splitlines()
  assert 'num_train_steps = 1200' in lines and 'seed = 7' in lines and "data.folder = ''" in lines
  from vaeglow_jax import config as config_lib
  from flax import traverse_util
  assert len(lines) == len(traverse_util.flatten_dict(config_lib.defaults().to_dict()))
  missing = _command('experiments.train', '--config=nosuch:quick', '--workdir=/tmp/unused')
  assert missing.returncode == 2 and missing.stderr.strip().splitlines()[-1].startswith(
      'error: config file nosuch not found; give --config=NAME[:preset] (one of celeba, '
      'cifar10, fashion_mnist, mnist)')


@pytest.mark.slow
def test_the_smoke_preset_runs_every_command_with_a_short_log(tmp_path):
  """README, Quick start: the smoke preset through train (both phases), evaluate and sample; a
  training run's log is what a person reads (before the parameter table moved to a file: 91
  lines for 6 tiny steps)."""
  run = str(tmp_path / 'smoke')
  commands = [
      ['experiments.train', '--config=fashion_mnist:smoke', f'--workdir={run}'],
      ['experiments.train', '--config=fashion_mnist:smoke', f'--workdir={run}',
       '--config.phase=glow'],
      ['experiments.evaluate', f'--workdir={run}', '--config.phase=glow'],
      ['experiments.sample', f'--workdir={run}', '--num=16']]
  for command in commands:
    result = _command(*command)
    assert result.returncode == 0, result.stderr[-3000:]
    if command[0] == 'experiments.train':
      assert len(result.stderr.splitlines()) <= 20, result.stderr
      assert 'trainable parameters (table: ' in result.stderr
  assert os.path.isfile(os.path.join(run, 'vae', 'parameters.txt'))
  assert os.path.isfile(os.path.join(run, 'eval', 'glow', 'reconstructions.png'))
  assert len(os.listdir(os.path.join(run, 'glow', 'samples_T0.5'))) == 17  # 16 PNGs + npz
