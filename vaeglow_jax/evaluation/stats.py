"""Statistics over seeds: means and standard errors, the paired and Welch t tests, and Holm's
adjustment for a family of tests. Pure functions of lists of numbers (no results layout).

A seed is the replicate: two runs of one seed that share a VAE are paired (their difference per
seed is tested), runs that share none are compared by Welch's unpaired t test. Within a family
of m tests, Holm's step-down adjustment keeps the chance of one or more false verdicts at most
alpha, whichever nulls are true (Holm 1979).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

ALPHA = 0.05  # two-sided; the 95% t interval of the project's rule


def mean_se(values) -> tuple[float, float, int] | None:
  """(mean, standard error, n) of the non-None values; SE is nan for n = 1; None if none."""
  values = [v for v in values if v is not None]
  if not values:
    return None
  n = len(values)
  se = float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else float('nan')
  return float(np.mean(values)), se, n


def format_mean_se(stat: tuple[float, float, int] | None, digits: int = 1) -> str:
  """'12.3 +- 0.4' of a `mean_se` result at `digits` decimals; the mean alone when its SE is
  nan (one value), 'n/a' for None."""
  if stat is None:
    return 'n/a'
  mean, se, _ = stat
  return f'{mean:.{digits}f}' if math.isnan(se) else f'{mean:.{digits}f} +- {se:.{digits}f}'


def t_critical(n: int, confidence: float = 0.95) -> float:
  """The two-sided Student t quantile for the mean of n paired differences (n - 1 degrees of
  freedom): 12.71 for 2 seeds, 4.30 for 3, 2.78 for 5."""
  from scipy import stats  # a dependency of jax
  return float(stats.t.ppf(0.5 + confidence / 2, n - 1))


@dataclasses.dataclass(frozen=True)
class TestResult:
  """A t test of `effect` = mean(a) - mean(b): its standard error, degrees of freedom, the
  two-sided p value, and the seeds behind each side (equal when paired)."""
  effect: float
  se: float
  df: float
  p: float
  n: tuple[int, int]


def _two_sided_p(effect: float, se: float, df: float) -> float:
  from scipy import stats
  if se == 0.0:
    return 0.0 if effect != 0.0 else 1.0
  return float(2.0 * stats.t.sf(abs(effect / se), df))


def paired_test(a, b) -> TestResult | None:
  """The paired t test of a[i] - b[i] (same seed i; pairs with a None are dropped), n - 1
  degrees of freedom. None with fewer than two pairs."""
  diffs = [x - y for x, y in zip(a, b) if x is not None and y is not None]
  if len(diffs) < 2:
    return None
  mean, se, n = mean_se(diffs)
  return TestResult(mean, se, n - 1, _two_sided_p(mean, se, n - 1), (n, n))


def welch_test(a, b) -> TestResult | None:
  """Welch's unpaired t test of mean(a) - mean(b) (None values dropped), with the
  Welch-Satterthwaite degrees of freedom. None with fewer than two values on either side."""
  a, b = ([v for v in side if v is not None] for side in (a, b))
  if min(len(a), len(b)) < 2:
    return None
  variances = [np.var(side, ddof=1) / len(side) for side in (a, b)]
  se = math.sqrt(sum(variances))
  if se == 0.0:
    df = float(len(a) + len(b) - 2)
  else:
    df = se ** 4 / sum(w ** 2 / (len(side) - 1) for w, side in zip(variances, (a, b)))
  effect = float(np.mean(a) - np.mean(b))
  return TestResult(effect, se, float(df), _two_sided_p(effect, se, df), (len(a), len(b)))


def holm(p_values) -> list[float]:
  """Holm's adjusted p values, in the order given: the i-th smallest p times (m - i + 1),
  made non-decreasing along that order and capped at 1. A test whose adjusted p is below
  alpha is rejected at family-wise error alpha."""
  m = len(p_values)
  order = sorted(range(m), key=lambda i: p_values[i])
  adjusted, running = [0.0] * m, 0.0
  for rank, i in enumerate(order):
    running = max(running, min(1.0, (m - rank) * p_values[i]))
    adjusted[i] = running
  return adjusted


def decide(effect: float, adjusted_p: float, lower_is_claimed: bool = True,
           alpha: float = ALPHA) -> str:
  """'holds' when the (adjusted) p is below alpha with the effect on the claimed side,
  'reversed' when on the other side, else 'undecided'."""
  if not adjusted_p < alpha:
    return 'undecided'
  return 'holds' if (effect < 0) == lower_is_claimed else 'reversed'


def adjust(rows: list[dict], family) -> list[dict]:
  """Holm within families, then a verdict per row. Each row {'test': TestResult or None, ...}
  gets 'adjusted_p' (Holm over the rows with a test and the same family(row)), 'verdict'
  (`decide` on it: lower is claimed) and 'unadjusted' (the verdict the test alone would give);
  a row without a test is undecided. Rows are changed in place and returned."""
  families = {}
  for row in rows:
    if row['test'] is not None:
      families.setdefault(family(row), []).append(row)
  for members in families.values():
    for row, adjusted in zip(members, holm([r['test'].p for r in members])):
      row['adjusted_p'] = adjusted
  for row in rows:
    test = row['test']
    if test is None:
      row.update(adjusted_p=None, verdict='undecided (fewer than 2 seeds)',
                 unadjusted='undecided (fewer than 2 seeds)')
    else:
      row['verdict'] = decide(test.effect, row['adjusted_p'])
      row['unadjusted'] = decide(test.effect, test.p)
  return rows
