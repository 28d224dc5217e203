"""Statistics over seeds: the t tests against scipy's own, Holm's adjustment by hand."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from vaeglow_jax.evaluation import stats

A = [31.2, 28.9, 35.0, 30.1, 29.4]
B = [40.3, 37.7, 41.9, 36.2, 44.0]


def test_paired_test_is_scipys_paired_t_test():
  result = stats.paired_test(A, B)
  reference = scipy_stats.ttest_rel(A, B)
  assert result.effect == pytest.approx(np.mean(A) - np.mean(B))
  assert result.p == pytest.approx(reference.pvalue, rel=1e-9)
  assert result.df == 4 and result.n == (5, 5)
  # A missing value drops its pair, not the whole seed list.
  assert stats.paired_test(A + [None], B + [1.0]).n == (5, 5)
  assert stats.paired_test([1.0], [2.0]) is None


def test_welch_test_is_scipys_unequal_variance_t_test():
  result = stats.welch_test(A, B[:3])
  reference = scipy_stats.ttest_ind(A, B[:3], equal_var=False)
  assert result.p == pytest.approx(reference.pvalue, rel=1e-9)
  assert result.effect / result.se == pytest.approx(reference.statistic, rel=1e-9)
  assert result.n == (5, 3) and 2 < result.df < 6
  assert stats.welch_test([1.0], B) is None


def test_holm_by_hand():
  # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06 (monotone).
  assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
  assert stats.holm([0.5, 0.9]) == [1.0, 1.0]
  assert stats.holm([]) == []
  # One test: no adjustment.
  assert stats.holm([0.02]) == [0.02]


def test_decide_uses_the_adjusted_p_and_the_claimed_side():
  assert stats.decide(-3.0, 0.01) == 'holds'
  assert stats.decide(3.0, 0.01) == 'reversed'
  assert stats.decide(3.0, 0.01, lower_is_claimed=False) == 'holds'
  assert stats.decide(-3.0, 0.05) == 'undecided'
  assert stats.decide(-3.0, math.nan) == 'undecided'


def test_the_t_rule_and_the_p_value_agree_at_the_boundary():
  """p < 0.05 exactly when |mean| > t_critical(n) SE: the project's interval rule."""
  for n in (2, 3, 5):
    cut = stats.t_critical(n)
    assert stats._two_sided_p(-1.0, 1 / (cut * 1.001), n - 1) < 0.05
    assert stats._two_sided_p(-1.0, 1 / (cut * 0.999), n - 1) > 0.05


def test_adjust_runs_holm_within_each_family_and_decides_each_row():
  def row(family, effect, p):
    return {'family': family, 'test': stats.TestResult(effect, 1.0, 4.0, p, (5, 5))}
  rows = [row('a', -2.0, 0.01), row('a', -1.0, 0.04), row('b', 3.0, 0.02), row('b', -1.0, 0.5),
          {'family': 'b', 'test': None}]
  stats.adjust(rows, family=lambda r: r['family'])
  # Family a: 0.01 * 2, max(0.02, 0.04 * 1); family b alone: 0.02 * 2, 0.5 * 1 (not 0.5 * 2 or
  # x 4: the other family's tests do not count).
  assert [r['adjusted_p'] for r in rows[:4]] == pytest.approx([0.02, 0.04, 0.04, 0.5])
  assert [r['verdict'] for r in rows] == ['holds', 'holds', 'reversed', 'undecided',
                                          'undecided (fewer than 2 seeds)']
  assert rows[1]['unadjusted'] == 'holds' and rows[4]['adjusted_p'] is None
  one_family = stats.adjust([dict(r) for r in rows[:4]], family=lambda r: 'all')
  assert [r["adjusted_p"] for r in one_family] == pytest.approx([0.04, 0.08, 0.06, 0.5])
