"""The factorial study's tables (recipe 'factorial'): decoder variance x phase-1 prior x seeds,
each VAE evaluated as four chains, summarised as means +- SE over seeds and as contrasts with a
verdict each. The study (its chains, claims and comparisons) lives here; the statistics are
vaeglow_jax.evaluation.stats.

Input: RESULTS/<variance>_<prior>/seed<S>/metrics.json, as experiments.evaluate wrote it for
the chains 'vae' (decoder means, the VAE's own prior), 'prior' (decoder means, post-hoc flow
prior), 'glow' (the Glow layer, own prior) and 'glow+prior' (the Glow layer, post-hoc flow prior).

The verdict rule: a seed is the replicate. Two chains of one cell share its VAE, so they are
compared paired by seed; two cells share none, so they are compared by Welch's unpaired t test
over all seeds of each. The tests of one claim in one feature space are a family, and Holm's
adjustment keeps the chance of one or more false verdicts in each family at most 5%; a verdict
is 'holds' or 'reversed' only when its adjusted p is below 0.05 (stats.decide).
"""

from __future__ import annotations

import re

from vaeglow_jax import phases
from vaeglow_jax.errors import UserError
from vaeglow_jax.evaluation import stats
from vaeglow_jax.evaluation.metrics import keys
from vaeglow_jax.evaluation.stats import format_mean_se as _fmt
from vaeglow_jax.evaluation.stats import mean_se
from vaeglow_jax.io import files as files_lib

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
  for cell in files_lib.list_dir(results_dir):
    for seed in files_lib.list_dir(files_lib.join(results_dir, cell)):
      metrics = files_lib.read_json(files_lib.join(results_dir, cell, seed, 'metrics.json'))
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


def _seed_values(runs, key: tuple) -> dict:
  """{seed: value} of key = (cell, chain, quantity, space, t) over the cell's seeds (None
  values left out)."""
  cell, *rest = key
  found = {seed: value(m, *rest) for seed, m in runs.get(cell, {}).items()}
  return {seed: v for seed, v in found.items() if v is not None}


def compare(runs, a: tuple, b: tuple) -> tuple[str, stats.TestResult | None]:
  """('paired' | 'Welch', the t test of value(a) - value(b)), each a (cell, chain, quantity,
  space, t): paired by seed within one cell (its chains share a VAE), Welch's unpaired test over
  every seed of each across cells (they share none). The test is None with fewer than two
  seeds."""
  values_a, values_b = _seed_values(runs, a), _seed_values(runs, b)
  if a[0] == b[0]:
    seeds = sorted(set(values_a) & set(values_b))
    return 'paired', stats.paired_test([values_a[s] for s in seeds], [values_b[s] for s in seeds])
  return 'Welch', stats.welch_test(list(values_a.values()), list(values_b.values()))


def _effect_text(kind: str, test: stats.TestResult | None, digits: int = 3) -> str:
  if test is None:
    return 'n/a (fewer than 2 seeds)'
  seeds = f'n={test.n[0]}' if kind == 'paired' else f'n={test.n[0]}+{test.n[1]}'
  return f'{test.effect:+.{digits}f} +- {test.se:.{digits}f}, {seeds}'


def adjust(rows: list[dict], family=lambda row: (row['claim'], row['space'])) -> list[dict]:
  """stats.adjust with this study's families: one claim in one feature space."""
  return stats.adjust(rows, family)


def families(rows: list[dict]) -> int:
  """How many families (claim, feature space) these rows' tests form."""
  return len({(r['claim'], r['space']) for r in rows if r['test'] is not None})


def contrasts(runs: dict) -> list[dict]:
  """The contrasts behind the claims: each {'claim', 'comparison', 'space', 'kind' ('paired' or
  'Welch'), 'test' (stats.TestResult or None), 'adjusted_p', 'verdict', 'unadjusted'}; the
  effect is (claimed better) - (other), so negative favours the claim for FID and bpd."""
  sp = spaces(runs)
  rows = []

  def add(claim, comparison, a, b, space_label):
    kind, test = compare(runs, a, b)
    if _seed_values(runs, a) and _seed_values(runs, b):
      rows.append({'claim': claim, 'comparison': comparison, 'space': space_label, 'kind': kind,
                   'test': test})

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
            (('diagonal', prior), chain, 'bpd', '', '0.5'),
            (('gamma', prior), chain, 'bpd', '', '0.5'), '-')
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
        ((variance, 'flow'), 'vae', 'bpd', '', '0.5'), ((variance, 'standard'), 'vae', 'bpd', '', '0.5'),
        '-')
  return adjust(rows)


def _p_text(p) -> str:
  return 'n/a' if p is None else (f'{p:.3f}' if p >= 0.001 else '<0.001')


def contrasts_table(runs: dict) -> str:
  rows = contrasts(runs)
  lines = ['| claim | comparison | feature space | test | effect (claimed - other) +- SE, seeds | '
           'p | Holm p | verdict (Holm) | verdict alone |', '|---|---|---|---|---|---|---|---|---|']
  for r in rows:
    p = None if r['test'] is None else r['test'].p
    lines.append(f"| {r['claim']} | {r['comparison']} | {r['space']} | {r['kind']} | "
                 f"{_effect_text(r['kind'], r['test'])} | {_p_text(p)} | {_p_text(r['adjusted_p'])} | "
                 f"{r['verdict']} | {r['unadjusted']} |")
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
  kind, test = compare(runs, (best[0], best[1], 'fid', space, best[2]),
                       (runner_up[0], runner_up[1], 'fid', space, runner_up[2]))
  verdict = 'undecided (fewer than 2 seeds)' if test is None else stats.decide(test.effect, test.p)
  return {'best': best, 'runner_up': runner_up, 'kind': kind, 'test': test, 'verdict': verdict}


def claims_table(runs: dict) -> str:
  """One line per family (claim, feature space): its tests, how many hold, are reversed or are
  undecided after Holm's adjustment and by each test alone, and the range of their effects."""
  grouped = {}
  for r in contrasts(runs):
    grouped.setdefault((r['claim'], r['space']), []).append(r)
  lines = ['| claim | feature space | tests | holds / reversed / undecided (Holm) | '
           'the same, each test alone | effects (min .. max) |', '|---|---|---|---|---|---|']
  for (claim, space), rows in grouped.items():
    def counts(key):
      verdicts = [r[key].split(' ')[0] for r in rows]
      return ' / '.join(str(verdicts.count(v)) for v in ('holds', 'reversed', 'undecided'))
    effects = [r['test'].effect for r in rows if r['test'] is not None]
    spread = f'{min(effects):+.3f} .. {max(effects):+.3f}' if effects else 'n/a'
    lines.append(f"| {claim} | {space} | {len(rows)} | {counts('verdict')} | "
                 f"{counts('unadjusted')} | {spread} |")
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


def unpaired_rows(runs: dict) -> list[dict]:
  """The BUDGET_COMPARISONS between two cells, Welch's test over all seeds of each in every
  feature space (bits/dim once): one family, Holm-adjusted. Each row as in `contrasts`."""
  rows = []
  for claim, a, b in BUDGET_COMPARISONS:
    if a[0] == b[0]:
      continue  # within one cell: paired, in the contrasts table
    for space in (spaces(runs) if a[2] != 'bpd' else ['']):
      key_a, key_b = (_key(k, space) for k in (a, b))
      kind, test = compare(runs, key_a, key_b)
      if test is not None:
        rows.append({'claim': claim, 'comparison': claim, 'space': space or '-', 'kind': kind,
                     'test': test, 'digits': 3 if a[2] == 'bpd' else 1})
  return adjust(rows, family=lambda row: 'the table')


def _key(key: tuple, space: str) -> tuple:
  """A BUDGET_COMPARISONS key (cell, chain, quantity[, t]) as (cell, chain, quantity, space, t)."""
  cell, chain, quantity, *t = key
  return (cell, chain, quantity, space if quantity != 'bpd' else '', *(t or ['0.5']))


def unpaired_table(runs: dict) -> str:
  """The BUDGET_COMPARISONS between two cells over all their seeds, Welch's t test (95%, two
  sided), Holm-adjusted as one family: the budget direction at one budget."""
  lines = ['| claim | space | effect (a - b) +- SE | seeds (a, b) | Welch df | p | Holm p | '
           'verdict (Holm) |', '|---|---|---|---|---|---|---|---|']
  for r in unpaired_rows(runs):
    test, digits = r['test'], r['digits']
    lines.append(f"| {r['claim']} | {r['space']} | {test.effect:+.{digits}f} +- {test.se:.{digits}f} | "
                 f'{test.n[0]}, {test.n[1]} | {test.df:.1f} | {_p_text(test.p)} | '
                 f"{_p_text(r['adjusted_p'])} | {r['verdict']} |")
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


def budget_report(base_dir: str, larger_dir: str, seed: int) -> str:
  """--factorial with --budget: each comparison of one seed at two budgets."""
  base, larger = load(base_dir), load(larger_dir)
  if not larger or not any(seed in seeds for seeds in larger.values()):
    raise FactorialError(f'no <variance>_<prior>/seed{seed}/metrics.json under {larger_dir}.')
  # Columns named by folder: the smaller budget is not always the factorial's (budget16 vs budget).
  labels = tuple(f"at {d.rstrip('/').rsplit('/', 1)[-1]}/" for d in (base_dir, larger_dir))
  return (f'Seed {seed}: each comparison at the budget of {base_dir} and at the larger one of '
          f'{larger_dir}; negative favours the claim:\n\n'
          + budget_table(base, larger, seed, labels)
          + '\nThe runs themselves:\n\n' + budget_values_table(base, larger, seed, labels))


def report(results_dir: str, seeds: set | None = None) -> str | None:
  """experiments.report --factorial: the chains, claims and contrasts of a factorial's results
  (only `seeds`, if given); None when the folder holds no runs."""
  runs = load(results_dir)
  if seeds:
    runs = {cell: {seed: m for seed, m in found.items() if seed in seeds}
            for cell, found in runs.items()}
    runs = {cell: found for cell, found in runs.items() if found}
  if not runs:
    return None
  rows = contrasts(runs)
  text = ('Chains, mean +- SE over seeds (FID at T = 0 / 0.25 / 0.5 / 0.75 for Glow-layer chains):\n\n'
          + chains_table(runs)
          + '\nClaims, summed over their contrasts. The seeds are the only independent replicates '
          '(the chains of one cell share its VAE and random draws, and both feature spaces score '
          'the same images): chains of one cell are compared paired by seed, cells by Welch\'s t '
          'test. The tests of one claim in one feature space are a family; Holm\'s adjustment keeps '
          'the chance of one or more false verdicts in a family at most 5%, so over these '
          f'{families(rows)} families at most {0.05 * families(rows):.1f} '
          'families are expected to hold a false verdict. Each test alone, at 5%, would expect up '
          f'to {0.05 * sum(r["test"] is not None for r in rows):.1f} false verdicts among its '
          f'{sum(r["test"] is not None for r in rows)} tests:\n\n' + claims_table(runs)
          + '\nContrasts (negative favours the claim):\n\n' + contrasts_table(runs)
          + '\nAcross the two cells of the budget direction (Welch, all seeds of each; one family, '
          'Holm-adjusted; negative favours the claim):\n\n' + unpaired_table(runs))
  for space in spaces(runs):
    best = best_chain(runs, space)
    if best:
      (variance, prior), chain, t, (mean, se, n) = best
      text += (f'\nBest chain by mean FID in {space} (chosen by its mean, not by a test): '
               f'{variance} variance, {prior} phase-1 prior, '
               f'{CHAIN_LABELS[chain]}, T={t}: {mean:.1f} (n={n}).\n')
      against = best_against_runner_up(runs, space)
      if against and against['test']:
        (r_variance, r_prior), r_chain, r_t, (r_mean, _, _) = against['runner_up']
        test = against['test']
        text += (f'Against its runner-up ({r_variance} variance, {r_prior} phase-1 prior, '
                 f'{CHAIN_LABELS[r_chain]}, T={r_t}: {r_mean:.1f}), {against["kind"]}, '
                 f'{_effect_text(against["kind"], test, 1)}: {against["verdict"]} '
                 '(one test, not adjusted; the pair was picked by its means).\n')
  return text


# The budget question: "diagonal beats gamma" between the paper's chain and the best chain's cell,
# at each budget, with the gap's trend across budgets.
TREND_COMPARISONS = tuple(
    (claim, a, b) for claim, a, b in BUDGET_COMPARISONS
    if a[0] != b[0] and a[2] == 'fid' and b[1] in ('glow+prior', 'prior'))


def trend_rows(budgets: list[tuple[str, dict]]) -> list[dict]:
  """For each (label, runs) budget and each TREND_COMPARISONS claim in every feature space the
  budgets share: Welch's test of a - b over all seeds of each cell. All rows are one family
  (Holm), so the table's verdicts hold together. Each row {'budget', 'claim', 'space', 'test',
  'adjusted_p', 'verdict'} (factorial.adjust)."""
  shared = set.intersection(*(set(spaces(runs)) for _, runs in budgets)) if budgets else set()
  rows = []
  for label, runs in budgets:
    for claim, a, b in TREND_COMPARISONS:
      for space in sorted(shared):
        _, test = compare(runs, _key(a, space), _key(b, space))
        rows.append({'budget': label, 'claim': claim, 'space': space, 'test': test})
  return adjust(rows, family=lambda row: 'the table')


def trend_table(budgets: list[tuple[str, dict]]) -> str:
  """trend_rows as Markdown: one line per comparison and space, one column per budget (the gap
  a - b +- SE, seeds, Holm verdict; positive: gamma ahead)."""
  rows = trend_rows(budgets)
  labels = [label for label, _ in budgets]
  lines = ['| claim (a - b; positive: gamma ahead) | space | ' + ' | '.join(labels) + ' |',
           '|---|---|' + '---|' * len(labels)]
  for claim, _, _ in TREND_COMPARISONS:
    for space in sorted({r['space'] for r in rows}):
      cells = []
      for label in labels:
        row = next(r for r in rows if (r['budget'], r['claim'], r['space']) == (label, claim, space))
        test = row['test']
        cells.append('n/a' if test is None else
                     f"{test.effect:+.1f} +- {test.se:.1f} ({test.n[0]}+{test.n[1]} seeds, "
                     f"Holm p {_p_text(row['adjusted_p'])}): {row['verdict']}")
      lines.append(f'| {claim} | {space} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def trend_figure(budgets: list[tuple[str, dict]], path: str) -> None:
  """The gap (a - b, FID) +- one SE against the budget, one line per comparison and space, as a
  PNG at `path` (through the work-directory module)."""
  import io

  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  rows = trend_rows(budgets)
  labels = [label for label, _ in budgets]
  fig, ax = plt.subplots(figsize=(7, 4))
  for claim, _, _ in TREND_COMPARISONS:
    for space in sorted({r['space'] for r in rows}):
      points = [(i, r['test']) for i, label in enumerate(labels) for r in rows
                if (r['budget'], r['claim'], r['space']) == (label, claim, space) and r['test']]
      if points:
        short = claim.split(': ')[0].replace('diagonal beats gamma (FID), ', '')
        ax.errorbar([i for i, _ in points], [t.effect for _, t in points],
                    yerr=[t.se for _, t in points], marker='o', capsize=3, label=f'{short}, {space}')
  ax.axhline(0.0, color='grey', linewidth=0.8)
  ax.set_xticks(range(len(labels)), labels)
  ax.set_xlabel('phase-1 budget (x the factorial\'s steps)')
  ax.set_ylabel('FID diagonal - gamma (+- SE)')
  ax.legend(fontsize=7)
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png', dpi=100)
  plt.close(fig)
  files_lib.write_bytes_atomic(path, buffer.getvalue())
