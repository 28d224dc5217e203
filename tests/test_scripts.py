"""scripts/copy_run.sh, the one copy from a work directory into results/ (RESULTS.md links the
copied names)."""

import os
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
