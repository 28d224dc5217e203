"""Which tests scripts/test.sh and .ci/run select, and the backend scripts/setup_env.sh installs."""

import os
import re
import shutil
import subprocess

import pytest

from tests.helpers import ROOT


def _pytest_runs(tmp_path, command):
  """Runs `command` (bash words) in a copy of scripts/test.sh and .ci/run whose set-up does
  nothing and whose .venv/bin/python only records its arguments. -> one list of arguments
  per pytest run."""
  for name in ('scripts/test.sh', '.ci/run'):
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(os.path.join(ROOT, name), tmp_path / name)
  (tmp_path / 'scripts/setup_env.sh').write_text('exit 0\n')
  python = tmp_path / '.venv/bin/python'
  python.parent.mkdir(parents=True)
  python.write_text('#!/usr/bin/env bash\nprintf "%s\\037" "$@" >> "$(dirname "$0")/runs"\n'
                    'echo >> "$(dirname "$0")/runs"\n')
  python.chmod(0o755)
  subprocess.run(['bash', '-c', command], cwd=tmp_path, check=True)
  lines = (tmp_path / '.venv/bin/runs').read_text().splitlines()
  return [line.split('\037')[:-1] for line in lines]


def _selection(args):
  """(the marker expression, the arguments after the fixed ones) of one pytest run."""
  assert args[:6] == ['-m', 'pytest', '-n', '2', '--maxschedchunk=2', '--durations=25'], args
  rest = args[6:]
  marks = [rest[i + 1] for i, a in enumerate(rest) if a == '-m']
  return marks, [a for i, a in enumerate(rest) if a != '-m' and (i == 0 or rest[i - 1] != '-m')]


@pytest.mark.parametrize('args,marks,rest', [
    ('', ['not slow'], []),  # the suite
    ('--all', [], []),
    ('-m slow -x', ['slow'], ['-x']),
    ('-x tests/runtime/test_multihost.py', [], ['-x', 'tests/runtime/test_multihost.py']),  # named: slow or not
    ('tests/cli/test_cli.py::test_x', [], ['tests/cli/test_cli.py::test_x']),
    ('./tests/training', [], ['./tests/training']),
    ('-x -k bucket', ['not slow'], ['-x', '-k', 'bucket']),
])
def test_test_sh_runs_the_suite_without_slow_tests_unless_asked(tmp_path, args, marks, rest):
  (run,) = _pytest_runs(tmp_path, f'bash scripts/test.sh {args}')
  assert _selection(run) == (marks, rest)


def test_ci_runs_the_readme_test_command_then_the_slow_tests(tmp_path):
  readme = open(os.path.join(ROOT, 'README.md')).read()
  (command,) = re.findall(r'^(bash scripts/test\.sh[^#\n]*?)\s*# the tests', readme, re.M)
  ci = open(os.path.join(ROOT, '.ci/run')).read().splitlines()
  assert command in ci
  runs = [_selection(args) for args in _pytest_runs(tmp_path, 'bash .ci/run')]
  # Every test is in exactly one of the runs.
  assert runs == [(['not slow'], []), (['slow'], [])]


def test_the_backend_is_chosen_from_the_machine(tmp_path):
  """scripts/backend.sh (which setup_env.sh installs by): a GPU that nvidia-smi lists, a TPU VM's
  device files, else the CPU; VAEGLOW_BACKEND overrides."""
  fake_bin, dev = tmp_path / 'bin', tmp_path / 'dev'
  fake_bin.mkdir()
  dev.mkdir()
  path = f'{fake_bin}:/usr/bin:/bin'

  def backend(**env):
    return subprocess.run(['bash', os.path.join(ROOT, 'scripts', 'backend.sh')], capture_output=True,
                          text=True, check=True, env={'PATH': path, 'VAEGLOW_DEV_DIR': str(dev),
                                                      **env}).stdout.strip()

  assert backend() == 'cpu'
  (dev / 'vfio').mkdir()
  (dev / 'vfio' / 'vfio').touch()  # the control file alone: no TPU
  assert backend() == 'cpu'
  (dev / 'vfio' / '0').touch()  # a v5 TPU VM's chip
  assert backend() == 'tpu'
  shutil.rmtree(dev / 'vfio')
  (dev / 'accel0').touch()  # a v4 TPU VM's chip
  assert backend() == 'tpu'
  smi = fake_bin / 'nvidia-smi'
  smi.write_text('#!/bin/sh\necho "GPU 0: NVIDIA H100"\n')
  smi.chmod(0o755)
  assert backend() == 'cuda12'
  smi.write_text('#!/bin/sh\nexit 9\n')  # the tool without a working GPU
  assert backend() == 'tpu'
  assert backend(VAEGLOW_BACKEND='cpu') == 'cpu'
