"""scripts/copy_run.sh, the one copy from a work directory into results/ (RESULTS.md links the
copied names); which tests scripts/test.sh and .ci/run select."""

import os
import re
import shutil
import subprocess

import pytest

from tests.helpers import ROOT


def _workdir(root):
  files = ['eval/metrics.json', 'vae/config.json', 'glow/config.json', 'eval/vae/samples_T0.png',
           'eval/glow/samples_T0.png', 'eval/glow/decoder_mean_vs_glow.png', 'eval/glow/notes.txt']
  for name in files:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(name)  # each file holds its own source path, so a wrong copy shows
  return root


def _copy_run(*args, cwd):
  return subprocess.run(['bash', '-c', f'source {ROOT}/scripts/copy_run.sh && copy_run "$@"', 'x',
                         *args], cwd=cwd, capture_output=True, text=True, check=False)


def _tree(root):
  return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f)).read()
          for d, _, files in os.walk(root) for f in files}


@pytest.mark.parametrize('layout,phases,figures,want', [
    ('flat', 'glow', 'glow/samples_T0.png glow/missing.png',
     {'metrics.json': 'eval/metrics.json', 'config.json': 'glow/config.json',
      'samples_T0.png': 'eval/glow/samples_T0.png'}),
    ('prefixed', 'vae glow', '*/samples_T0.png glow/decoder_mean_vs_glow.png',
     {'metrics.json': 'eval/metrics.json', 'config_vae.json': 'vae/config.json',
      'config_glow.json': 'glow/config.json', 'vae_samples_T0.png': 'eval/vae/samples_T0.png',
      'glow_samples_T0.png': 'eval/glow/samples_T0.png',
      'glow_decoder_mean_vs_glow.png': 'eval/glow/decoder_mean_vs_glow.png'}),
    ('folders', '', '*/*.png',
     {'metrics.json': 'eval/metrics.json', 'vae/samples_T0.png': 'eval/vae/samples_T0.png',
      'glow/samples_T0.png': 'eval/glow/samples_T0.png',
      'glow/decoder_mean_vs_glow.png': 'eval/glow/decoder_mean_vs_glow.png'}),
])
def test_copy_run_copies_each_layout(tmp_path, layout, phases, figures, want):
  workdir = _workdir(tmp_path / 'run')
  (tmp_path / 'cwd').mkdir()
  (tmp_path / 'cwd' / 'decoy.png').write_text('a file where the caller stands')  # no glob here
  result = _copy_run(str(workdir), str(tmp_path / 'out'), layout, phases, figures,
                     cwd=tmp_path / 'cwd')
  assert result.returncode == 0, result.stderr
  assert _tree(tmp_path / 'out') == want


def test_copy_run_refuses_a_bad_layout_and_a_missing_config(tmp_path):
  workdir = _workdir(tmp_path / 'run')
  bad = _copy_run(str(workdir), str(tmp_path / 'out'), 'flattened', '', '', cwd=tmp_path)
  assert bad.returncode == 2 and "unknown layout 'flattened'" in bad.stderr
  missing = _copy_run(str(workdir), str(tmp_path / 'out2'), 'flat', 'prior', '', cwd=tmp_path)
  assert missing.returncode != 0 and 'prior/config.json' in missing.stderr


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
    ('-x tests/test_multihost.py', [], ['-x', 'tests/test_multihost.py']),  # named: slow or not
    ('tests/test_cli.py::test_x', [], ['tests/test_cli.py::test_x']),
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
