"""The factorial's tables (scripts/factorial.sh): decoder variance x phase-1 prior x seeds, each
VAE evaluated as four chains, summarised as means +- standard errors over seeds and as paired
contrasts (same seed, one factor changed) with a verdict each.

Input: RESULTS/<variance>_<prior>/seed<S>/metrics.json, as experiments.evaluate wrote it for
the chains 'vae' (decoder means, the VAE's own prior), 'prior' (decoder means, post-hoc flow
prior), 'glow' (the Glow layer, own prior) and 'glow+prior' (the Glow layer, post-hoc prior).
"""

from __future__ import annotations

import math
import re

import numpy as np

from vaeglow_jax import phases
from vaeglow_jax.errors import UserError
from vaeglow_jax import workdir as workdir_lib
from vaeglow_jax.evaluation.metrics import keys
from vaeglow_jax.evaluation.stats import format_mean_se as _fmt
from vaeglow_jax.evaluation.stats import mean_se, t_critical  # noqa: F401 (also used as factorial.*)

CHAINS = ('vae', 'prior', 'glow', 'glow+prior')
CHAIN_LABELS = {'vae': 'decoder means, own prior', 'prior': 'decoder means, post-hoc flow prior',
                'glow': 'Glow layer, own prior', 'glow+prior': 'Glow layer, post-hoc flow prior'}
PRIOR_LABELS = {'standard': 'N(0, I)', 'flow': 'joint flow'}
TEMPERATURES = ('0', '0.25', '0.5', '0.75')


class FactorialError(UserError, ValueError):
  """Result folders that cannot be read as one factorial; the message says which."""


def samples_depend_on_t(chain: str) -> bool:
  """Whether a chain's samples go through a Glow layer (and so depend on the temperature): its
  phase's spec says so ('glow+prior': the phase before '+')."""
  return phases.get_spec(chain.split('+')[0]).use_glow


def load(results_dir: str) -> dict:
  """{(variance, prior): {seed: metrics}} from RESULTS/<variance>_<prior>/seed<S>/metrics.json;
  several folders, comma-separated, are merged (seeds run in another round, kept apart until
  every cell has them). A seed of a cell in two folders is an error."""
  if ',' in results_dir:
    merged = {}
    for folder in results_dir.split(','):
      for cell, seeds in load(folder).items():
        if set(seeds) & set(merged.get(cell, {})):
          raise FactorialError(f'{cell} seeds {sorted(set(seeds) & set(merged[cell]))} are in two of '
                           f'the folders {results_dir}; give each seed once.')
        merged.setdefault(cell, {}).update(seeds)
    return merged
  runs = {}
  for cell in workdir_lib.list_dir(results_dir):
    for seed in workdir_lib.list_dir(workdir_lib.join(results_dir, cell)):
      metrics = workdir_lib.read_json(workdir_lib.join(results_dir, cell, seed, 'metrics.json'))
      if '_' in cell and re.fullmatch(r'seed\d+', seed) and metrics is not None:
        variance, prior = cell.split('_', 1)
        runs.setdefault((variance, prior), {})[int(seed[4:])] = metrics
  return runs


def spaces(runs: dict) -> list[str]:
  """The feature spaces scored in every run, e.g. ['fashion_mnist', 'fashion_mnist_2']."""
  found = None
  for seeds in runs.values():
    for metrics in seeds.values():
      scored = set().union(*(keys.feature_spaces(m) for m in metrics.values()))
      found = scored if found is None else found & scored
  return sorted(found or ())


def value(metrics: dict, chain: str, quantity: str, space: str = '', t: str = '0.5'):
  """One number of one run: quantity 'bpd' (IW), 'rms' (x - g_mu on test images), 'fid', 'kid',
  'precision', 'recall' (chain samples at T for Glow chains), 'fid_x_tilde' (before the Glow
  layer) or 'fid_means' (the Glow chain's decoder means). None when the run lacks it."""
  m = metrics.get(chain)
  if m is None:
    return None
  if quantity == 'bpd':
    return m.get(keys.TEST_BPD_IW)
  if quantity == 'rms':
    return m.get('rms_x_minus_decoder_mean',
                 m.get(keys.GLOW_LAYER, {}).get('residual', {}).get('rms_x_minus_mean'))
  layer = m.get(keys.GLOW_LAYER, {})
  if quantity == 'fid_x_tilde':
    return layer.get('x_tilde', {}).get(space, {}).get(t, {}).get('fid')
  if quantity == 'fid_means':
    return layer.get('decoder_mean', {}).get(space, {}).get('fid')
  sweep = m.get(keys.by_temperature(keys.score_key(quantity, space)))
  return sweep.get(t) if sweep else m.get(keys.score_key(quantity, space))


def _cell_stat(runs, cell, chain, quantity, space='', t='0.5'):
  return mean_se([value(m, chain, quantity, space, t) for m in runs.get(cell, {}).values()])


def chains_table(runs: dict) -> str:
  """One row per (variance, phase-1 prior, chain): mean +- SE over seeds of bpd (IW),
  RMS(x - g_mu), FID in each space (at each T for Glow chains), KID, precision / recall and
  the x_tilde FID (first space, T=0.5)."""
  sp = spaces(runs)
  header = ['variance', 'phase-1 prior', 'chain', 'seeds', 'bpd (IW)', 'RMS(x - g_mu)']
  for s in sp:
    header.append(f'FID {s} (T=' + ' / '.join(TEMPERATURES) + ')')
  header += [f'KID {sp[0]} (T=0.5)', f'precision / recall {sp[0]} (T=0.5)', f'x_tilde FID {sp[0]} (T=0.5)']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for cell in sorted(runs):
    for chain in CHAINS:
      n = sum(chain in m for m in runs[cell].values())
      if not n:
        continue
      glow = samples_depend_on_t(chain)
      row = [cell[0], PRIOR_LABELS.get(cell[1], cell[1]), CHAIN_LABELS[chain], str(n),
             _fmt(_cell_stat(runs, cell, chain, 'bpd'), 3), _fmt(_cell_stat(runs, cell, chain, 'rms'), 3)]
      for s in sp:
        temps = TEMPERATURES if glow else ('0.5',)
        row.append(' / '.join(_fmt(_cell_stat(runs, cell, chain, 'fid', s, t)) for t in temps))
      row.append(_fmt(_cell_stat(runs, cell, chain, 'kid', sp[0]), 1))
      p, r = (_cell_stat(runs, cell, chain, q, sp[0]) for q in ('precision', 'recall'))
      row.append(f'{_fmt(p, 3)} / {_fmt(r, 3)}')
      row.append(_fmt(_cell_stat(runs, cell, chain, 'fid_x_tilde', sp[0])) if glow else '-')
      lines.append('| ' + ' | '.join(row) + ' |')
  return '\n'.join(lines) + '\n'


def paired(runs, a: tuple, b: tuple) -> tuple[float, float, int] | None:
  """Mean +- SE over seeds of value(a) - value(b), each a (cell, chain, quantity, space, t),
  paired by seed (seeds present in both)."""
  (cell_a, *ka), (cell_b, *kb) = a, b
  seeds = sorted(set(runs.get(cell_a, {})) & set(runs.get(cell_b, {})))
  diffs = []
  for seed in seeds:
    va, vb = value(runs[cell_a][seed], *ka), value(runs[cell_b][seed], *kb)
    if va is not None and vb is not None:
      diffs.append(va - vb)
  return mean_se(diffs)


def verdict(stat, lower_is_claimed: bool = True) -> str:
  """'holds' when the 95% t interval of the paired mean difference (n - 1 degrees of freedom)
  excludes 0 on the claimed side, 'reversed' when it excludes it on the other, else 'undecided'
  (also with one seed: no SE)."""
  if stat is None:
    return 'n/a'
  mean, se, n = stat
  if n < 2 or math.isnan(se):
    return f'undecided (1 seed: {"claimed sign" if (mean < 0) == lower_is_claimed else "opposite sign"})'
  if abs(mean) <= t_critical(n) * se:
    return f'undecided (within the 95% t interval, {n} seeds)'
  return 'holds' if (mean < 0) == lower_is_claimed else 'reversed'


def contrasts(runs: dict) -> list[dict]:
  """The paired contrasts behind the claims: each {'claim', 'comparison', 'space', 'effect',
  'verdict'}; effect = mean +- SE of (claimed better) - (other), so negative favours the claim
  for FID and bpd."""
  sp = spaces(runs)
  rows = []

  def add(claim, comparison, a, b, space_label):
    stat = paired(runs, a, b)
    if stat is not None:
      rows.append({'claim': claim, 'comparison': comparison, 'space': space_label,
                   'effect': stat, 'verdict': verdict(stat)})

  for prior in ('standard', 'flow'):
    for chain in CHAINS:
      temps = ('0', '0.5') if samples_depend_on_t(chain) else ('0.5',)
      for t in temps:
        at = f' T={t}' if samples_depend_on_t(chain) else ''
        for s in sp:
          add('diagonal variance beats gamma (FID)',
              f'{PRIOR_LABELS[prior]} prior, {CHAIN_LABELS[chain]}{at}',
              (('diagonal', prior), chain, 'fid', s, t), (('gamma', prior), chain, 'fid', s, t), s)
      if chain in ('vae', 'glow'):
        add('diagonal variance beats gamma (bpd)', f'{PRIOR_LABELS[prior]} prior, {CHAIN_LABELS[chain]}',
            (('diagonal', prior), chain, 'bpd'), (('gamma', prior), chain, 'bpd'), '-')
  for cell in sorted(runs):
    name = f'{cell[0]} variance, {PRIOR_LABELS.get(cell[1], cell[1])} prior'
    for own, means in (('glow', 'vae'), ('glow+prior', 'prior')):
      for t in ('0', '0.5'):
        for s in sp:
          add('the Glow layer sharpens (FID of x below its decoder means)',
              f'{name}, {CHAIN_LABELS[own]} T={t} vs {CHAIN_LABELS[means]}',
              (cell, own, 'fid', s, t), (cell, means, 'fid', s, t), s)
    for chain in ('glow', 'glow+prior'):
      for s in sp:
        add('T=0.5 gives a better FID than T=0', f'{name}, {CHAIN_LABELS[chain]}',
            (cell, chain, 'fid', s, '0.5'), (cell, chain, 'fid', s, '0'), s)
    for s in sp:
      add('a post-hoc flow prior beats the phase-1 prior (decoder means)', name,
          (cell, 'prior', 'fid', s, '0.5'), (cell, 'vae', 'fid', s, '0.5'), s)
  for variance in ('gamma', 'diagonal'):
    for s in sp:
      add('a joint flow prior beats N(0, I) in phase 1 (decoder means, own prior)', f'{variance} variance',
          ((variance, 'flow'), 'vae', 'fid', s, '0.5'), ((variance, 'standard'), 'vae', 'fid', s, '0.5'), s)
    add('a joint flow prior beats N(0, I) in phase 1 (bpd)', f'{variance} variance',
        ((variance, 'flow'), 'vae', 'bpd'), ((variance, 'standard'), 'vae', 'bpd'), '-')
  return rows


def contrasts_table(runs: dict) -> str:
  rows = contrasts(runs)
  lines = ['| claim | comparison (same seed, one thing changed) | feature space | effect (claimed - other) '
           '+- SE, n seeds | verdict |', '|---|---|---|---|---|']
  for r in rows:
    mean, se, n = r['effect']
    effect = f'{mean:+.3f}' + ('' if math.isnan(se) else f' +- {se:.3f}') + f', n={n}'
    lines.append(f"| {r['claim']} | {r['comparison']} | {r['space']} | {effect} | {r['verdict']} |")
  return '\n'.join(lines) + '\n'


def ranked_chains(runs: dict, space: str) -> list[tuple[tuple, str, str, tuple]]:
  """Every ((variance, prior), chain, T, FID stat) in `space`, the lowest mean FID first."""
  out = []
  for cell in runs:
    for chain in CHAINS:
      for t in (TEMPERATURES if samples_depend_on_t(chain) else ('0.5',)):
        stat = _cell_stat(runs, cell, chain, 'fid', space, t)
        if stat is not None:
          out.append((cell, chain, t, stat))
  return sorted(out, key=lambda entry: entry[3][0])


def best_chain(runs: dict, space: str) -> tuple[tuple, str, str, tuple] | None:
  """((variance, prior), chain, T, FID stat) with the lowest mean FID in `space`."""
  ranked = ranked_chains(runs, space)
  return ranked[0] if ranked else None


def best_against_runner_up(runs: dict, space: str) -> dict | None:
  """The best chain by mean FID against the best of the other (cell, chain) pairs at any
  temperature, paired over seeds: {'best', 'runner_up', 'effect' (best - runner-up), 'verdict'}.
  Being lowest of many means is no evidence by itself: this says whether the ranking holds."""
  ranked = ranked_chains(runs, space)
  if not ranked:
    return None
  best = ranked[0]
  others = [r for r in ranked if r[:2] != best[:2]]
  if not others:
    return None
  runner_up = others[0]
  stat = paired(runs, (best[0], best[1], 'fid', space, best[2]),
                (runner_up[0], runner_up[1], 'fid', space, runner_up[2]))
  return {'best': best, 'runner_up': runner_up, 'effect': stat, 'verdict': verdict(stat)}


def claims_table(runs: dict) -> str:
  """One line per (claim, feature space): how many of its paired comparisons hold, are reversed
  or are undecided, and the range of their mean effects (claimed - other)."""
  grouped = {}
  for r in contrasts(runs):
    grouped.setdefault((r['claim'], r['space']), []).append(r)
  lines = ['| claim | feature space | comparisons | holds / reversed / undecided | effects (min .. max) |',
           '|---|---|---|---|---|']
  for (claim, space), rows in grouped.items():
    verdicts = [r['verdict'].split(' ')[0] for r in rows]
    effects = [r['effect'][0] for r in rows]
    lines.append(f"| {claim} | {space} | {len(rows)} | {verdicts.count('holds')} / "
                 f"{verdicts.count('reversed')} / {verdicts.count('undecided')} | "
                 f'{min(effects):+.3f} .. {max(effects):+.3f} |')
  return '\n'.join(lines) + '\n'


# Budget direction: the same seed's comparisons at the factorial's budget and at a larger one.
BUDGET_COMPARISONS = (  # (claim, a, b): a - b < 0 favours the claim; keys as in `value`
    ('diagonal beats gamma (FID), flow priors: diagonal joint vs gamma post-hoc, decoder means',
     (('diagonal', 'flow'), 'vae', 'fid'), (('gamma', 'standard'), 'prior', 'fid')),
    ('diagonal beats gamma (FID), own priors: diagonal joint flow vs gamma N(0, I), decoder means',
     (('diagonal', 'flow'), 'vae', 'fid'), (('gamma', 'standard'), 'vae', 'fid')),
    ('diagonal beats gamma (bits/dim, IW), own priors',
     (('diagonal', 'flow'), 'vae', 'bpd'), (('gamma', 'standard'), 'vae', 'bpd')),
    ('a post-hoc flow prior beats N(0, I) (gamma, decoder means)',
     (('gamma', 'standard'), 'prior', 'fid'), (('gamma', 'standard'), 'vae', 'fid')),
) + tuple(
    (f'diagonal beats gamma (FID), with the Glow layer at T={t}: diagonal joint vs gamma post-hoc',
     (('diagonal', 'flow'), 'glow', 'fid', t), (('gamma', 'standard'), 'glow+prior', 'fid', t))
    for t in ('0', '0.5')
) + tuple(
    (f'the Glow layer sharpens ({label}, T={t})', (cell, glow, 'fid', t), (cell, means, 'fid'))
    for cell, glow, means, label in (
        (('gamma', 'standard'), 'glow', 'vae', 'gamma, N(0, I)'),
        (('gamma', 'standard'), 'glow+prior', 'prior', 'gamma, post-hoc flow prior'),
        (('diagonal', 'flow'), 'glow', 'vae', 'diagonal, joint flow prior'))
    for t in ('0', '0.5')
) + tuple(
    (f'T=0.5 beats T=0 ({CHAIN_LABELS[chain]}, {label})', (cell, chain, 'fid', '0.5'),
     (cell, chain, 'fid', '0'))
    for cell, chain, label in ((('gamma', 'standard'), 'glow', 'gamma, N(0, I)'),
                               (('gamma', 'standard'), 'glow+prior', 'gamma, N(0, I)'),
                               (('diagonal', 'flow'), 'glow', 'diagonal, joint flow')))


def _at(runs, seed: int, key: tuple, space: str):
  cell, chain, quantity, *t = key
  metrics = runs.get(cell, {}).get(seed)
  if metrics is None:
    return None
  return value(metrics, chain, quantity, space if quantity != 'bpd' else '', *(t or ['0.5']))


def unpaired(runs, a: tuple, b: tuple, space: str = '') -> tuple[float, float, float] | None:
  """(mean(a) - mean(b), its SE, Welch's degrees of freedom) over every seed of each key (as in
  BUDGET_COMPARISONS) in `space`: for two cells, which share no VAE, so no pairing by seed
  applies. None with fewer than two seeds on either side."""
  values = []
  for key in (a, b):
    found = [_at(runs, seed, key, space) for seed in sorted(runs.get(key[0], {}))]
    values.append([v for v in found if v is not None])
  if min(len(v) for v in values) < 2:
    return None
  variances = [np.var(v, ddof=1) / len(v) for v in values]
  se = math.sqrt(sum(variances))
  df = se ** 4 / sum(w ** 2 / (len(v) - 1) for w, v in zip(variances, values))
  return float(np.mean(values[0]) - np.mean(values[1])), se, float(df)


def unpaired_table(runs: dict) -> str:
  """The BUDGET_COMPARISONS between two cells over all their seeds, Welch's t test (95%, two
  sided): the budget direction at one budget with its replicate count."""
  from scipy import stats  # a dependency of jax
  lines = ['| claim | space | effect (a - b) +- SE | seeds (a, b) | Welch df | verdict |',
           '|---|---|---|---|---|---|']
  for claim, a, b in BUDGET_COMPARISONS:
    if a[0] == b[0]:
      continue  # within one cell: paired, in the contrasts table
    for space in (spaces(runs) if a[2] != 'bpd' else ['']):
      stat = unpaired(runs, a, b, space)
      if stat is None:
        continue
      mean, se, df = stat
      digits = 3 if a[2] == 'bpd' else 1
      half = float(stats.t.ppf(0.975, df)) * se
      verdict_text = 'undecided' if abs(mean) <= half else ('holds' if mean < 0 else 'reversed')
      counts = tuple(len(runs.get(k[0], {})) for k in (a, b))
      lines.append(f'| {claim} | {space or "-"} | {mean:+.{digits}f} +- {se:.{digits}f} | '
                   f'{counts[0]}, {counts[1]} | {df:.1f} | {verdict_text} |')
  return '\n'.join(lines) + '\n'


# The two budgets' column heads by default: the factorial's against a larger one.
BUDGET_LABELS = ('factorial budget', 'larger budget')


def budget_table(base: dict, larger: dict, seed: int = 0, labels: tuple = BUDGET_LABELS) -> str:
  """Each BUDGET_COMPARISONS difference a - b for one seed, at a smaller budget (`base`, by
  default the factorial's) and at a larger one (`larger`, the same layout), per feature space
  (bits/dim once), and whether its sign is kept. `labels` head the two budgets' columns. Rows
  whose runs are missing on either side are left out."""
  lines = [f'| claim | space | {labels[0]} | {labels[1]} | sign |', '|---|---|---|---|---|']
  for claim, a, b in BUDGET_COMPARISONS:
    for space in (spaces(larger) if a[2] != 'bpd' else ['-']):
      diffs = []
      for runs in (base, larger):
        va, vb = _at(runs, seed, a, space), _at(runs, seed, b, space)
        diffs.append(None if va is None or vb is None else va - vb)
      if None in diffs:
        continue
      kept = 'kept' if (diffs[0] < 0) == (diffs[1] < 0) else 'flipped'
      digits = 3 if a[2] == 'bpd' else 1
      lines.append(f'| {claim} | {space} | {diffs[0]:+.{digits}f} | {diffs[1]:+.{digits}f} | {kept} |')
  return '\n'.join(lines) + '\n'


def budget_values_table(base: dict, larger: dict, seed: int = 0,
                        labels: tuple = BUDGET_LABELS) -> str:
  """The runs of `larger` for one seed beside the same cells and chains of `base`: bits/dim,
  RMS(x - g_mu), and FID in each space (at each T for Glow-layer chains). `labels` as in
  budget_table."""
  sp = spaces(larger)
  lines = [f'| cell | chain | quantity | {labels[0]} | {labels[1]} |', '|---|---|---|---|---|']
  for cell in sorted(larger):
    metrics = larger[cell].get(seed, {})
    for chain in CHAINS:
      if chain not in metrics:
        continue
      glow = samples_depend_on_t(chain)
      quantities = [('bpd (IW)', 'bpd', '', '0.5', 3), ('RMS(x - g_mu)', 'rms', '', '0.5', 3)]
      quantities += [(f'FID {s} T={t}' if glow else f'FID {s}', 'fid', s, t, 1)
                     for s in sp for t in (TEMPERATURES if glow else ('0.5',))]
      for label, quantity, space, t, digits in quantities:
        old = _at(base, seed, (cell, chain, quantity, t), space)
        new = _at(larger, seed, (cell, chain, quantity, t), space)
        fmt = lambda v: 'n/a' if v is None else f'{v:.{digits}f}'  # noqa: E731
        lines.append(f'| {cell[0]}, {PRIOR_LABELS.get(cell[1], cell[1])} | {CHAIN_LABELS[chain]} '
                     f'| {label} | {fmt(old)} | {fmt(new)} |')
  return '\n'.join(lines) + '\n'
