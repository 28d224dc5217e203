"""The Glow-layer mechanism table (experiments.glow_mechanism): one row per run, from a trained
work directory or from an evaluated results folder's metrics.json, and one per cell.
Columns: evaluation.gain_decomposition."""

from __future__ import annotations

from vaeglow_jax.cli import common as cli

COLUMNS = (  # (key, header, format)
    ('gain_bpd', 'gain G', '{:+.3f}'),
    ('best_rescale_bpd', 'best rescale R', '{:+.4f}'),
    ('gain_beyond_rescale_bpd', 'G - R', '{:+.3f}'),
    ('layer_scale', 'layer scale s', '{:.3f}'),
    ('residual_removed_rescaled', 'residual removed, scale divided out', '{:+.1%}'),
    ('explained_bpd', 'explained E', '{:+.3f}'),
    ('scale_mismatch_bpd', 'scale cost M', '{:+.3f}'),
    ('gain_bpd_gaussian', 'old split: Gaussian term', '{:+.3f}'),
    ('gain_bpd_logdet', 'old split: log-det', '{:+.3f}'),
)


def row(workdir: str, phase: str, num_images: int) -> dict:
  """The measures of one trained work directory, on its first num_images test images."""
  import jax
  import vaeglow_jax
  from vaeglow_jax.evaluation import glow_layer
  from vaeglow_jax.evaluation import scoring
  run = vaeglow_jax.load(workdir, phase)
  images = scoring.test_images(run.config, num_images)
  rng = jax.random.fold_in(jax.random.PRNGKey(run.config.eval.seed), 3)  # evaluate's draw
  residual = glow_layer.glow_layer_residuals(run.phase, run.variables, images, rng,
                                            run.config.eval.batch_size)
  return {'run': _name(workdir), 'cell': f'{run.config.model.variance}_{run.config.model.prior.kind}',
          'seed': run.config.seed, 'step': run.step, 'source': 'checkpoint',
          'num_images': int(len(images)), **residual}


def row_from_metrics(folder: str, metrics: dict) -> dict:
  """The measures of one evaluated phase 1 + Glow layer from its metrics.json ('vae' and 'glow'
  chains); 'source' says whether the log-determinant was recorded or recovered."""
  from vaeglow_jax.evaluation import gain_decomposition
  from vaeglow_jax.evaluation.metrics import keys
  missing = [c for c in ('vae', 'glow') if c not in metrics]
  residual = metrics.get('glow', {}).get(keys.GLOW_LAYER, {}).get('residual', {})
  if missing or 'normalised_sq_f_x' not in residual:
    cli.fail(f'{folder}/metrics.json has no {" or ".join(missing) or "glow_layer residual"} '
             "measures; give a folder evaluated with the chains 'vae' and 'glow' (e.g. "
             'results/fashion_mnist/factorial/gamma_standard/seed0) or a work directory')
  m, m_f = residual['normalised_sq_x'], residual['normalised_sq_f_x']
  if 'gain_bpd_logdet' in residual:
    logdet, source = residual['gain_bpd_logdet'] * gain_decomposition.LN2, 'recorded'
  else:
    gain = metrics['vae'][keys.TEST_BPD_ELBO] - metrics['glow'][keys.TEST_BPD_ELBO]
    logdet, source = gain_decomposition.logdet_from_total_gain(gain, m, m_f), 'from ELBOs'
  parts = gain_decomposition.decompose(m, m_f, logdet)
  cell, seed = _name(folder).split('/')
  return {'run': _name(folder), 'cell': cell, 'seed': int(seed.removeprefix('seed')),
          'step': metrics['glow'].get('checkpoint_step'), 'source': source,
          'num_images': metrics['glow'].get('num_test_examples'),
          'gain_bpd_gaussian': 0.5 * (m - m_f) / gain_decomposition.LN2,
          'gain_bpd_logdet': logdet / gain_decomposition.LN2, **parts}


def _name(path: str) -> str:
  return '/'.join(path.rstrip('/').split('/')[-2:])  # e.g. gamma_standard/seed1


def markdown(rows: list[dict]) -> str:
  """One line per run, then one per cell: mean +- SE over its runs, and the verdict on "the layer
  gains more than the best pure rescale" (G > R: the paired t test over the cell's runs, Holm
  over the cells, stats.decide)."""
  from vaeglow_jax.evaluation import stats
  head = '| run | source | ' + ' | '.join(h for _, h, _ in COLUMNS) + ' |'
  rule = '|---|---|' + '---|' * len(COLUMNS)
  lines = [head, rule]
  for r in rows:
    lines.append(f"| `{r['run']}` | {r['source']} | " +
                 ' | '.join(fmt.format(r[k]) for k, _, fmt in COLUMNS) + ' |')
  cells = sorted({r['cell'] for r in rows})
  groups = {cell: [r for r in rows if r['cell'] == cell] for cell in cells}
  tests = {cell: stats.paired_test([r['gain_bpd'] for r in group],
                                   [r['best_rescale_bpd'] for r in group])
           for cell, group in groups.items()}
  tested = [cell for cell in cells if tests[cell] is not None]
  adjusted = dict(zip(tested, stats.holm([tests[cell].p for cell in tested])))
  lines += ['', '| cell | runs | ' + ' | '.join(h for _, h, _ in COLUMNS) +
            ' | G > R (paired t, Holm over cells) |', rule + '---|']
  for cell, group in groups.items():
    values = []
    for key, _, fmt in COLUMNS:
      mean, se, _ = stats.mean_se([r[key] for r in group])
      values.append(fmt.format(mean) + ('' if se != se else ' +- ' + fmt.format(se).lstrip('+')))
    test = tests[cell]
    verdict = ('undecided (fewer than 2 runs)' if test is None else
               f'{stats.decide(test.effect, adjusted[cell], lower_is_claimed=False)} '
               f'(Holm p {adjusted[cell]:.2g})')
    lines.append(f'| {cell} | {len(group)} | ' + ' | '.join(values) + f' | {verdict} |')
  return '\n'.join(lines) + '\n'
