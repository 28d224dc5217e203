"""The factorial study's tables: loading, means +- SE, contrasts (paired within a cell, Welch
across cells), Holm within each family, and their verdicts."""

import json
import os

import pytest

from experiments import factorial


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


def _row(rows, claim, comparison, space):
  return next(r for r in rows if (r['claim'], r['comparison'], r['space']) == (claim, comparison, space))


def test_within_a_cell_contrasts_are_paired_and_across_cells_welch(results):
  from scipy import stats
  runs = factorial.load(results)
  assert set(runs) == {(v, p) for v in ('gamma', 'diagonal') for p in ('standard', 'flow')}
  assert factorial.spaces(runs) == ['a', 'b']
  rows = factorial.contrasts(runs)
  # Across cells: the seed noise (+1, -1, 0) does not cancel; Welch's test as scipy computes it.
  diag = _row(rows, 'diagonal variance beats gamma (FID)', 'N(0, I) prior, decoder means, own prior', 'a')
  welch = stats.ttest_ind([49, 51, 50], [59, 61, 60], equal_var=False)
  assert diag['kind'] == 'Welch' and diag['test'].n == (3, 3)
  assert diag['test'].effect == pytest.approx(-10.0)
  assert diag['test'].effect / diag['test'].se == pytest.approx(welch.statistic)
  assert diag['test'].p == pytest.approx(welch.pvalue) and diag['verdict'] == 'holds'
  # Within a cell: paired by seed, so the noise cancels and the effect has no spread.
  t = _row(rows, 'T=0.5 gives a better FID than T=0', 'gamma variance, N(0, I) prior, Glow layer, own prior', 'b')
  assert t['kind'] == 'paired' and t['test'].effect == pytest.approx(3.0) and t['test'].se == 0.0
  assert t['verdict'] == 'reversed'
  sharp = _row(rows, 'the Glow layer sharpens (FID of x below its decoder means)',
               'diagonal variance, joint flow prior, Glow layer, post-hoc flow prior T=0 vs '
               'decoder means, post-hoc flow prior', 'a')
  assert sharp['test'].effect == pytest.approx(-20.0) and sharp['verdict'] == 'holds'
  bpd = _row(rows, 'diagonal variance beats gamma (bpd)', 'joint flow prior, decoder means, own prior', '-')
  assert bpd['test'].effect == 0.0 and bpd['verdict'] == 'undecided'
  best = factorial.best_chain(runs, 'a')
  assert best[:3] == (('diagonal', 'flow'), 'glow+prior', '0') or best[:3] == (
      ('diagonal', 'standard'), 'glow+prior', '0')
  assert best[3][0] == pytest.approx(25.0)
  # Its runner-up is another (cell, chain): here the diagonal cell under the other prior, the
  # same FIDs seed by seed; two cells, so Welch, and the ranking is undecided.
  against = factorial.best_against_runner_up(runs, 'a')
  assert against['runner_up'][:2] != best[:2] and against['runner_up'][3][0] == pytest.approx(25.0)
  assert against['kind'] == 'Welch' and against['test'].effect == 0.0
  assert against['verdict'] == 'undecided'


def test_holm_within_a_family_turns_a_marginal_verdict_undecided(results):
  """Four contrasts of one family: the one with p just under 0.05 holds alone, but not after
  Holm's adjustment (m = 4); the table says both. Families are claim x feature space."""
  runs = factorial.load(results)
  # The Glow layer in space a of the gamma N(0, I) cell: at T=0 a gain over the decoder means
  # of -29 with a spread that puts p at about 0.03 alone; at T=0.5 a spread that leaves it far
  # from any verdict. The family's fourteen other tests have no spread (p = 0).
  for seed, shift in ((0, 9.0), (1, -9.0), (2, 0.0)):
    sweep = runs[('gamma', 'standard')][seed]['glow']['fid_a_by_temperature']
    sweep['0'] += -9.0 + shift
    sweep['0.5'] += 4 * shift
  rows = factorial.contrasts(runs)
  marginal = _row(rows, 'the Glow layer sharpens (FID of x below its decoder means)',
                  'gamma variance, N(0, I) prior, Glow layer, own prior T=0 vs decoder means, own prior',
                  'a')
  assert 0.01 < marginal['test'].p < 0.05
  assert marginal['unadjusted'] == 'holds' and marginal['verdict'] == 'undecided'
  family = [r for r in rows if r['claim'] == marginal['claim'] and r['space'] == 'a']
  assert len(family) == 16 and factorial.families(rows) == 12
  from vaeglow_jax.evaluation import stats
  assert marginal['adjusted_p'] == pytest.approx(stats.holm([r['test'].p for r in family])[
      family.index(marginal)])
  line = next(l for l in factorial.claims_table(runs).splitlines()
              if l.startswith('| the Glow layer sharpens (FID of x below its decoder means) | a |'))
  assert '| 16 | 14 / 0 / 2 | 15 / 0 / 1 |' in line


def test_one_seed_gives_no_test_and_no_verdict(results):
  runs = {cell: {0: seeds[0]} for cell, seeds in factorial.load(results).items()}
  rows = factorial.contrasts(runs)
  assert rows and all(r['test'] is None and r['verdict'].startswith('undecided') for r in rows)
  assert 'n/a (fewer than 2 seeds)' in factorial.contrasts_table(runs)


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
  assert '| 12 | 12 / 0 / 0 | 12 / 0 / 0 | -10.000 .. -10.000 |' in line
  t = next(l for l in table.splitlines() if l.startswith('| T=0.5 gives a better FID than T=0 | a |'))
  assert '| 8 | 0 / 8 / 0 | 0 / 8 / 0 |' in t


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


def test_the_budget_directions_welch_rows_agree_with_scipy_and_are_one_holm_family(results):
  """Two cells share no VAE, so no pairing by seed: Welch's SE, degrees of freedom and p against
  scipy's unequal-variance t test, on uneven seed counts; Holm over the table's rows."""
  from scipy import stats as scipy_stats
  from vaeglow_jax.evaluation import stats
  runs = factorial.load(str(results))
  runs[('diagonal', 'flow')][3] = runs[('diagonal', 'flow')][0]  # a fourth seed, one cell only
  rows = factorial.unpaired_rows(runs)
  row = next(r for r in rows if r['claim'].startswith('diagonal beats gamma (FID), flow priors')
             and r['space'] == 'a')
  values = [[factorial.value(m, chain, 'fid', 'a') for m in runs[cell].values()]
            for cell, chain in ((('diagonal', 'flow'), 'vae'), (('gamma', 'standard'), 'prior'))]
  assert (len(values[0]), len(values[1])) == (4, 3)
  welch = scipy_stats.ttest_ind(values[0], values[1], equal_var=False)
  test = row['test']
  assert test.effect == pytest.approx(sum(values[0]) / 4 - sum(values[1]) / 3)
  assert test.effect / test.se == pytest.approx(welch.statistic)
  assert test.df == pytest.approx(welch.df) and test.p == pytest.approx(welch.pvalue)
  assert [r['adjusted_p'] for r in rows] == pytest.approx(stats.holm([r['test'].p for r in rows]))
  table = factorial.unpaired_table(runs)
  line = next(l for l in table.splitlines()
              if l.startswith('| diagonal beats gamma (FID), flow priors') and '| a |' in l)
  assert f'{test.effect:+.1f} +- {test.se:.1f} | 4, 3 | {test.df:.1f} |' in line
  assert line.endswith(f"| {row['verdict']} |")
  assert 'post-hoc flow prior beats N(0, I)' not in table  # within one cell: paired elsewhere


def test_folders_of_other_seeds_merge_and_a_seed_in_two_is_refused(results, tmp_path):
  import shutil
  more = tmp_path / 'more'
  shutil.copytree(os.path.join(results, 'gamma_flow', 'seed2'), more / 'gamma_flow' / 'seed3')
  runs = factorial.load(f'{results},{more}')
  assert sorted(runs[('gamma', 'flow')]) == [0, 1, 2, 3] and sorted(runs[('gamma', 'standard')]) == [0, 1, 2]
  with pytest.raises(ValueError, match=r"\('gamma', 'flow'\) seeds \[3\] are in two"):
    factorial.load(f'{results},{more},{more}')


def test_the_trend_tests_each_budget_by_welch_and_adjusts_over_the_whole_table(results, tmp_path):
  """Two budgets of the same layout: the gap's test at each is Welch's over the two cells' seeds,
  Holm over every row of the table; the figure is a PNG."""
  from vaeglow_jax.evaluation import stats
  base = factorial.load(results)
  larger = {cell: {seed: json.loads(json.dumps(m)) for seed, m in found.items()}
            for cell, found in base.items()}
  for seed, metrics in larger[('gamma', 'standard')].items():  # gamma ahead by 10 more: +20
    for chain in ('prior', 'glow+prior'):
      for key, v in list(metrics[chain].items()):
        if key.startswith('fid_') and isinstance(v, float):
          metrics[chain][key] = v - 10.0
        elif key.startswith('fid_') and isinstance(v, dict):
          metrics[chain][key] = {t: x - 10.0 for t, x in v.items()}
  rows = factorial.trend_rows([('1x', base), ('4x', larger)])
  assert len(rows) == 2 * len(factorial.TREND_COMPARISONS) * 2  # budgets x claims x spaces
  means = [r for r in rows if r['claim'].startswith('diagonal beats gamma (FID), flow priors')
           and r['space'] == 'a']
  values = {label: (factorial._seed_values(runs, (('diagonal', 'flow'), 'vae', 'fid', 'a', '0.5')),
                    factorial._seed_values(runs, (('gamma', 'standard'), 'prior', 'fid', 'a', '0.5')))
            for label, runs in (('1x', base), ('4x', larger))}
  for row in means:
    a, b = values[row['budget']]
    expected = stats.welch_test(list(a.values()), list(b.values()))
    assert row['test'] == expected
  assert means[1]['test'].effect == pytest.approx(means[0]['test'].effect + 10.0)
  assert [r['adjusted_p'] for r in rows] == pytest.approx(stats.holm([r['test'].p for r in rows]))
  table = factorial.trend_table([('1x', base), ('4x', larger)])
  assert table.splitlines()[0].endswith('| 1x | 4x |')
  factorial.trend_figure([('1x', base), ('4x', larger)], str(tmp_path / 'trend.png'))
  assert (tmp_path / 'trend.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
