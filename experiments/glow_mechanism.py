r"""How a trained Glow layer gains bits/dim: its share of the decoder's residual and of the
log-determinant (issue 46, item 6), one row per work directory.

  python -m experiments.glow_mechanism DIR [DIR ...] [--phase=glow] [--num_images=2000] \
      [--out=TABLE.md]

For test images x and one z ~ q(z|x) each, the layer changes log p(x|z) from log N(x; mu, sigma)
to log N(f(x); mu, sigma) + log|det df/dx|. The table splits that gain (bits/dim, per pixel) into
the Gaussian term's (the residual x - mu shrunk, in decoder standard deviations) and the
log-determinant's, beside the share of the squared residual f removes (evaluator.
glow_layer_residuals; experiments.evaluate writes the same numbers into metrics.json).
"""

from absl import flags

from experiments import cli

_PHASE = flags.DEFINE_string('phase', 'glow', 'The Glow-layer phase of each work directory.')
_NUM = flags.DEFINE_integer('num_images', 2000, 'Test images (the first N).')
_OUT = flags.DEFINE_string('out', '', 'Also write the table (and a .json beside it) here.')


def row(workdir: str, phase: str, num_images: int) -> dict:
  import jax
  import vaeglow_jax
  from vaeglow_jax.evaluation import evaluator
  run = vaeglow_jax.load(workdir, phase)
  images = evaluator.test_images(run.config, num_images)
  rng = jax.random.fold_in(jax.random.PRNGKey(run.config.eval.seed), 3)  # evaluate's draw
  residual = evaluator.glow_layer_residuals(run.phase, run.variables, images, rng,
                                            run.config.eval.batch_size)
  return {'workdir': workdir, 'variance': run.config.model.variance,
          'prior': run.config.model.prior.kind, 'seed': run.config.seed, 'step': run.step,
          'num_images': int(len(images)), **residual}


def markdown(rows: list[dict]) -> str:
  lines = ['| work directory | variance | phase-1 prior | seed | residual removed | gain, Gaussian '
           'term (bits/dim) | gain, log-det (bits/dim) | log-det share |',
           '|---|---|---|---|---|---|---|---|']
  for r in rows:
    share = 'n/a' if r['logdet_share_of_gain'] is None else f"{100 * r['logdet_share_of_gain']:.0f}%"
    name = '/'.join(r['workdir'].rstrip('/').split('/')[-2:])  # e.g. gamma_standard/seed1
    lines.append(f"| `{name}` | {r['variance']} | {r['prior']} | {r['seed']} | "
                 f"{100 * r['residual_removed']:+.1f}% | {r['gain_bpd_gaussian']:+.4f} | "
                 f"{r['gain_bpd_logdet']:+.4f} | {share} |")
  return '\n'.join(lines) + '\n'


def main(argv):
  from vaeglow_jax import workdir as workdir_lib
  if len(argv) < 2:
    cli.fail('give one or more work directories with a trained Glow-layer phase, e.g. '
             'python -m experiments.glow_mechanism workdirs/fashion_mnist_quick')
  rows = [row(cli.expand_home(d), _PHASE.value, _NUM.value) for d in argv[1:]]
  table = markdown(rows)
  print(table, end='')
  if _OUT.value:
    workdir_lib.write_text_atomic(_OUT.value, table)
    workdir_lib.write_json_atomic(_OUT.value.rsplit('.', 1)[0] + '.json', rows, indent=2)


if __name__ == '__main__':
  cli.run(main)
