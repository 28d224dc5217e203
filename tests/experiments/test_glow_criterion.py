"""experiments.glow_criterion: the Glow-layer criterion over seeds, against scipy's paired t test,
with Holm over its two comparisons, and a verdict only from the test."""

import json

import pytest
from scipy import stats as scipy_stats

from experiments import glow_criterion


def _write(folder, seed, x, means, tilde):
  run = folder / f'seed{seed}'
  run.mkdir(parents=True)
  glow = {'fid_a_by_temperature': {'0': x - 5, '0.5': x},
          'glow_layer': {'decoder_mean': {'a': {'fid': means}},
                         'x_tilde': {'a': {'0.5': {'fid': tilde}}}}}
  (run / 'metrics.json').write_text(json.dumps({'glow': glow}))


def test_paired_over_seeds_with_holm_and_a_sign_count_is_no_verdict(tmp_path):
  # Every seed's x beats its decoder means (the old "holds in all three seeds"), but by margins
  # whose |t| is 4.2 < 4.30 with 2 degrees of freedom: undecided.
  for seed, (x, means, tilde) in enumerate(((47.4, 51.6, 55.4), (57.0, 67.3, 71.7),
                                            (43.9, 52.0, 52.8))):
    _write(tmp_path, seed, x, means, tilde)
  (tmp_path / 'seed0_8000_steps').mkdir()  # not a seed folder: ignored
  runs = glow_criterion.load(str(tmp_path))
  assert sorted(runs) == [0, 1, 2]
  rows = {r['against']: r for r in glow_criterion.comparisons(runs)}
  means = rows['decoder means']
  reference = scipy_stats.ttest_rel([47.4, 57.0, 43.9], [51.6, 67.3, 52.0])
  assert means['test'].effect / means['test'].se == pytest.approx(reference.statistic)
  assert means['test'].p == pytest.approx(reference.pvalue)
  assert all(x < o for x, o in zip(means['x'], means['other']))  # every sign favours x ...
  assert means['verdict'] == 'undecided'  # ... and the test does not decide
  tilde = rows['x_tilde']
  assert tilde['test'].p < 0.05 and tilde['verdict'] == 'undecided'  # decided alone, not after Holm
  assert tilde['adjusted_p'] == pytest.approx(min(1, 2 * min(means['test'].p, tilde['test'].p)))
  table = glow_criterion.markdown(runs)
  assert '| decoder means | -4.2, -10.3, -8.1 | -7.5 +- 1.8 | -4.2' in table


def test_clear_margins_hold_and_one_seed_gives_no_verdict(tmp_path):
  for seed, margin in enumerate((10.0, 11.0, 12.0, 10.5)):
    _write(tmp_path, seed, 40.0, 40.0 + margin, 40.0 + 2 * margin)
  rows = glow_criterion.comparisons(glow_criterion.load(str(tmp_path)))
  assert [r['verdict'] for r in rows] == ['holds', 'holds']
  one = {0: glow_criterion.load(str(tmp_path))[0]}
  assert all(r['verdict'].startswith('undecided') for r in glow_criterion.comparisons(one))
