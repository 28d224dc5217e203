"""The paper's Table 1 over seeds (experiments.table1): which rows are paired, Holm over the
table's contrasts, and the report command on a results folder."""

import json
import subprocess
import sys

import pytest

from experiments import recipes, table1
from vaeglow_jax.evaluation import stats

SPACES = ('fashion_mnist', 'fashion_mnist_2')
NOISE = (0.3, -0.2, 0.1, -0.4, 0.2)
# FID per row and seed (space 2 = space 1 + 5): the second stage 10 worse than the RealNVP
# prior in every seed, the MAF prior within noise of it, the joint MAF VAE a little better
# than the joint RealNVP VAE (p < 0.05 alone, not after Holm).
FIDS = {
    table1.NONE: [60.0 + 3 * n for n in NOISE],
    table1.SECOND: [40.0 + n for n in NOISE],
    table1.REALNVP: [30.0 + n for n in NOISE],
    table1.MAF: [30.0 + n for n in (0.5, -0.6, 0.2, 0.3, -0.5)],
    table1.JOINT_REALNVP: [50.0, 51.0, 49.0, 50.5, 49.5],
    table1.JOINT_MAF: [48.4, 49.6, 47.6, 48.9, 48.1],
}


def _write(root):
  for (folder, phase), values in FIDS.items():
    for seed, value in enumerate(values):
      path = root / folder / f'seed{seed}' / 'metrics.json'
      metrics = json.loads(path.read_text()) if path.exists() else {}
      metrics[phase] = {f'fid_{s}': value + 5.0 * i for i, s in enumerate(SPACES)}
      metrics[phase].update(test_bpd_iw=4.0, training_seconds=100.0, median_step_seconds=0.1)
      path.parent.mkdir(parents=True, exist_ok=True)
      path.write_text(json.dumps(metrics))


def test_rows_of_one_vae_are_paired_others_welch_and_holm_runs_over_the_table(tmp_path):
  _write(tmp_path)
  runs = table1.load(str(tmp_path))
  assert set(runs) == set(FIDS) and all(len(seeds) == 5 for seeds in runs.values())
  rows = {(r['claim'], r['space']): r for r in table1.contrasts(runs)}
  assert len(rows) == 2 * len(table1.CONTRASTS)
  paper = rows[(table1.CONTRASTS[0][0], 'fashion_mnist')]
  assert paper['paired'] and paper['test'].effect == pytest.approx(-10.0)
  assert paper['verdict'] == 'holds'
  assert rows[(table1.CONTRASTS[2][0], 'fashion_mnist')]['verdict'] == 'undecided'
  joint = rows[(table1.CONTRASTS[6][0], 'fashion_mnist')]
  assert not joint['paired']
  assert joint['test'].p == pytest.approx(stats.welch_test(FIDS[table1.JOINT_MAF],
                                                           FIDS[table1.JOINT_REALNVP]).p)
  # Decided alone, undecided after Holm over the table's 18 contrasts.
  assert joint['test'].p < 0.05 <= joint['adjusted_p'] and joint['verdict'] == 'undecided'
  assert [r['adjusted_p'] for r in rows.values()] == pytest.approx(
      stats.holm([r['test'].p for r in rows.values()]))


def test_the_report_command_writes_the_table(tmp_path):
  _write(tmp_path)
  out = tmp_path / 'table.md'
  subprocess.run([sys.executable, '-m', 'experiments.report', f'--table1={tmp_path}',
                  f'--out={out}'], check=True, capture_output=True)
  text = out.read_text()
  assert '| post-hoc RealNVP prior | N(0, I) VAE | 5 | 30.0 +- 0.1 | 35.0 +- 0.1 |' in text
  assert 'over all 18 contrasts' in text
  for _, _, label in recipes.TABLE1_ROWS:
    assert f'| {label} |' in text
