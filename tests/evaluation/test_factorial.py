"""The factorial's tables: loading, means +- SE, paired contrasts and their verdicts."""

import json
import math
import os

import pytest

from vaeglow_jax.evaluation import factorial


def _metrics(fid_means, fid_glow_by_t, bpd):
  """A run's metrics.json with two feature spaces ('a', 'b'; 'b' = 'a' + 1)."""
  def scores(fid, by_t=None):
    out = {}
    for space, shift in (('a', 0.0), ('b', 1.0)):
      out[f'fid_{space}'] = fid + shift
      out[f'kid_{space}'] = 0.01
      out[f'precision_{space}'] = out[f'recall_{space}'] = 0.5
      if by_t:
        out[f'fid_{space}_by_temperature'] = {t: v + shift for t, v in by_t.items()}
    return out
  means = {'test_bpd_iw': bpd, 'rms_x_minus_decoder_mean': 0.1, **scores(fid_means)}
  glow = {'test_bpd_iw': bpd - 0.2, **scores(fid_glow_by_t['0.5'], fid_glow_by_t),
          'glow_layer': {'residual': {'rms_x_minus_mean': 0.1},
                         'x_tilde': {'a': {'0.5': {'fid': 99.0}}}}}
  return {'vae': means, 'prior': {**means, **scores(fid_means - 5)}, 'glow': glow,
          'glow+prior': {**glow, **scores(fid_glow_by_t['0.5'] - 5,
                                          {t: v - 5 for t, v in fid_glow_by_t.items()})}}


@pytest.fixture
def results(tmp_path):
  # gamma is 10 worse than diagonal under both priors, +-1 across seeds; T=0 beats T=0.5 by 3.
  for variance, offset in (('gamma', 10.0), ('diagonal', 0.0)):
    for prior in ('standard', 'flow'):
      for seed, noise in ((0, 1.0), (1, -1.0), (2, 0.0)):
        fid = 50.0 + offset + noise
        glow = {'0': fid - 20, '0.25': fid - 19, '0.5': fid - 17, '0.75': fid - 10}
        path = tmp_path / f'{variance}_{prior}' / f'seed{seed}'
        os.makedirs(path)
        (path / 'metrics.json').write_text(json.dumps(_metrics(fid, glow, 5.0)))
  return str(tmp_path)


def test_contrasts_are_paired_by_seed_and_give_verdicts(results):
  runs = factorial.load(results)
  assert set(runs) == {(v, p) for v in ('gamma', 'diagonal') for p in ('standard', 'flow')}
  assert factorial.spaces(runs) == ['a', 'b']
  rows = {(r['claim'], r['comparison'], r['space']): r for r in factorial.contrasts(runs)}
  diag = rows[('diagonal variance beats gamma (FID)', 'N(0, I) prior, decoder means, own prior', 'a')]
  mean, se, n = diag['effect']
  # Paired: the seed noise cancels, so the effect is exactly -10 with no spread.
  assert (mean, se, n) == (-10.0, 0.0, 3) and diag['verdict'] == 'holds'
  t = rows[('T=0.5 gives a better FID than T=0', 'gamma variance, N(0, I) prior, Glow layer, own prior', 'b')]
  assert t['effect'][0] == pytest.approx(3.0) and t['verdict'] == 'reversed'
  sharp = rows[('the Glow layer sharpens (FID of x below its decoder means)',
                'diagonal variance, joint flow prior, Glow layer, post-hoc flow prior T=0 vs '
                'decoder means, post-hoc flow prior', 'a')]
  assert sharp['effect'][0] == pytest.approx(-20.0) and sharp['verdict'] == 'holds'
  bpd = rows[('diagonal variance beats gamma (bpd)', 'joint flow prior, decoder means, own prior', '-')]
  assert bpd['effect'][0] == 0.0 and bpd['verdict'].startswith('undecided')
  best = factorial.best_chain(runs, 'a')
  assert best[:3] == (('diagonal', 'flow'), 'glow+prior', '0') or best[:3] == (
      ('diagonal', 'standard'), 'glow+prior', '0')
  assert best[3][0] == pytest.approx(25.0)
  # Its runner-up is another (cell, chain): here the diagonal cell under the other prior, the
  # same FIDs seed by seed, so the paired difference is exactly 0 and the ranking undecided.
  against = factorial.best_against_runner_up(runs, 'a')
  assert against['runner_up'][:2] != best[:2] and against['runner_up'][3][0] == pytest.approx(25.0)
  assert against['effect'] == (0.0, 0.0, 3) and against['verdict'].startswith('undecided')


def test_unpaired_spread_gives_an_undecided_verdict_and_one_seed_no_se():
  assert factorial.verdict((-1.0, 0.6, 2)).startswith('undecided')
  # The 95% t interval with n - 1 degrees of freedom: 12.706 SE for 2 seeds, 4.303 for 3, 2.776
  # for 5 (not 2 SE, an 82% interval at 3 seeds).
  assert factorial.verdict((-1.0, 1 / 12.8, 2)) == 'holds'
  assert factorial.verdict((-1.0, 1 / 12.6, 2)).startswith('undecided')
  assert factorial.verdict((-1.0, 1 / 4.35, 3)) == 'holds'
  assert factorial.verdict((1.0, 1 / 4.35, 3)) == 'reversed'
  assert factorial.verdict((-1.0, 1 / 4.25, 3)) == 'undecided (within the 95% t interval, 3 seeds)'
  assert factorial.verdict((-1.0, 1 / 2.8, 5)) == 'holds'
  assert factorial.verdict((-1.0, 1 / 2.75, 5)).startswith('undecided')
  one = factorial.mean_se([3.0])
  assert one[0] == 3.0 and math.isnan(one[1]) and 'undecided' in factorial.verdict(one)


def test_chains_table_has_a_row_per_cell_and_chain(results):
  table = factorial.chains_table(factorial.load(results))
  lines = table.splitlines()
  assert len(lines) == 2 + 4 * 4
  row = next(line for line in lines if line.startswith('| gamma | N(0, I) | Glow layer, own prior'))
  # FID in space a at T = 0 / 0.25 / 0.5 / 0.75: mean 60 - (20, 19, 17, 10), SE 1/sqrt(3).
  assert '40.0 +- 0.6 / 41.0 +- 0.6 / 43.0 +- 0.6 / 50.0 +- 0.6' in row
  assert '| 3 | 4.800 +- 0.000 |' in row


def test_claims_table_counts_the_verdicts_of_each_claim(results):
  table = factorial.claims_table(factorial.load(results))
  line = next(l for l in table.splitlines() if l.startswith('| diagonal variance beats gamma (FID) | a |'))
  # 2 priors x (2 decoder-mean chains + 2 Glow chains x 2 temperatures) = 12, all -10 exactly.
  assert '| 12 | 12 / 0 / 0 | -10.000 .. -10.000 |' in line
  t = next(l for l in table.splitlines() if l.startswith('| T=0.5 gives a better FID than T=0 | a |'))
  assert '| 8 | 0 / 8 / 0 |' in t


def test_budget_table_says_which_comparisons_keep_their_sign(results, tmp_path):
  # The larger budget: only seed 0's best chain and the paper recipe's cell; gamma now beats
  # diagonal by 10 (the base had diagonal ahead by 10), the Glow layer still sharpens.
  larger = tmp_path / 'larger'
  for variance, offset in (('gamma', -10.0), ('diagonal', 0.0)):
    prior = 'standard' if variance == 'gamma' else 'flow'
    fid = 50.0 + offset
    glow = {'0': fid - 20, '0.25': fid - 19, '0.5': fid - 17, '0.75': fid - 10}
    os.makedirs(larger / f'{variance}_{prior}' / 'seed0')
    (larger / f'{variance}_{prior}' / 'seed0' / 'metrics.json').write_text(
        json.dumps(_metrics(fid, glow, 4.0)))
  base, big = factorial.load(results), factorial.load(str(larger))
  rows = {tuple(c.strip() for c in line.split('|')[1:3]): line
          for line in factorial.budget_table(base, big, seed=0).splitlines()[2:]}
  own = rows[('diagonal beats gamma (FID), own priors: diagonal joint flow vs gamma N(0, I), '
              'decoder means', 'a')]
  assert own.endswith('| -10.0 | +10.0 | flipped |')
  sharp = rows[('the Glow layer sharpens (gamma, N(0, I), T=0)', 'b')]
  assert sharp.endswith('| -20.0 | -20.0 | kept |')
  assert ('diagonal beats gamma (bits/dim, IW), own priors', '-') in rows
  values = factorial.budget_values_table(base, big, seed=0)
  assert '| gamma, N(0, I) | Glow layer, own prior | FID a T=0 | 41.0 | 20.0 |' in values


def test_across_cells_the_welch_test_agrees_with_scipys(results):
  """unpaired: two cells share no VAE, so no pairing by seed; Welch's SE, degrees of freedom and
  verdict against scipy's own unequal-variance t test, on uneven seed counts."""
  from scipy import stats
  runs = factorial.load(str(results))
  runs[('diagonal', 'flow')][3] = runs[('diagonal', 'flow')][0]  # a fourth seed, one cell only
  a, b = (('diagonal', 'flow'), 'vae', 'fid'), (('gamma', 'standard'), 'prior', 'fid')
  mean, se, df = factorial.unpaired(runs, a, b, 'a')
  values = [[factorial.value(m, key[1], 'fid', 'a') for m in runs[key[0]].values()] for key in (a, b)]
  assert (len(values[0]), len(values[1])) == (4, 3)
  welch = stats.ttest_ind(values[0], values[1], equal_var=False)
  assert mean == pytest.approx(sum(values[0]) / 4 - sum(values[1]) / 3)
  assert mean / se == pytest.approx(welch.statistic)
  assert df == pytest.approx(welch.df)
  table = factorial.unpaired_table(runs)
  row = next(line for line in table.splitlines()
             if line.startswith('| diagonal beats gamma (FID), flow priors') and '| a |' in line)
  assert f'{mean:+.1f} +- {se:.1f} | 4, 3 | {df:.1f} |' in row
  assert row.endswith('| holds |' if welch.pvalue < 0.05 and mean < 0 else
                      '| reversed |' if welch.pvalue < 0.05 else '| undecided |')
  assert 'post-hoc flow prior beats N(0, I)' not in table  # within one cell: paired elsewhere


def test_folders_of_other_seeds_merge_and_a_seed_in_two_is_refused(results, tmp_path):
  import shutil
  more = tmp_path / 'more'
  shutil.copytree(os.path.join(results, 'gamma_flow', 'seed2'), more / 'gamma_flow' / 'seed3')
  runs = factorial.load(f'{results},{more}')
  assert sorted(runs[('gamma', 'flow')]) == [0, 1, 2, 3] and sorted(runs[('gamma', 'standard')]) == [0, 1, 2]
  with pytest.raises(ValueError, match=r"\('gamma', 'flow'\) seeds \[3\] are in two"):
    factorial.load(f'{results},{more},{more}')
