"""experiments/cli.py: user errors are one line and exit 2; anything else keeps its trace."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SCRIPT = '''
import sys
from experiments import cli

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
from experiments import cli
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


def test_the_library_error_classes_share_one_base():
  from vaeglow_jax import (calibration, data, distributed, evaluation, loop, reliability, train)
  from vaeglow_jax.errors import UserError
  from vaeglow_jax.metrics import feature_extractor, inception
  classes = [calibration.CalibrationError, data.DataError, distributed.DistributedError,
             evaluation.EvaluationError, loop.TrainingError, reliability.WorkdirError,
             train.BatchSizeError, feature_extractor.FeatureExtractorError,
             inception.InceptionWeightsError]
  assert all(issubclass(c, UserError) for c in classes)
  assert not issubclass(loop.Preempted, UserError)  # a stop, not bad input (exit 143)
