r"""How a trained Glow layer gains bits/dim, in parts that a rescale cannot move, one row per run
and one per cell (mean +- SE over seeds).

  python -m experiments.glow_mechanism DIR [DIR ...] [--phase=glow] [--num_images=2000] \
      [--out=TABLE.md]

Each DIR is either a work directory with a trained Glow-layer phase (measured on the first
--num_images test images, one z ~ q(z|x) each, as experiments.evaluate does), or a results
folder whose metrics.json has the chains 'vae' and 'glow' of one phase 1 (e.g.
results/fashion_mnist/factorial/gamma_standard/seed0). From metrics.json the layer's
log-determinant is read where it was recorded, and otherwise recovered from the two chains'
test ELBOs (the same encoder, so their difference is the layer's gain in log p(x|z)).

Columns (bits/dim, gain positive; evaluation.gain_decomposition): the gain G; R, what the best
single factor on the decoder's sigma would gain; G - R; the layer's scale per dimension s; the
share of the squared residual (sigma units) the layer removes with its scale divided out; E, the
gain that removal is worth; M <= 0, the cost of the layer's scale; and the old split of G into
the Gaussian term and the log-determinant, which a rescale moves at will.
"""

from absl import flags

from vaeglow_jax.cli import common as cli
from experiments import mechanism

_PHASE = flags.DEFINE_string('phase', 'glow', 'The Glow-layer phase of each work directory.')
_NUM = flags.DEFINE_integer('num_images', 2000, 'Test images (the first N), for work directories.')
_OUT = flags.DEFINE_string('out', '', 'Also write the table (and a .json beside it) here.')


def main(argv):
  from vaeglow_jax.io import files as files_lib
  if len(argv) < 2:
    cli.fail('give one or more work directories with a trained Glow-layer phase or results '
             'folders with a metrics.json, e.g. python -m experiments.glow_mechanism '
             'results/fashion_mnist/factorial/gamma_standard/seed0')
  rows = []
  for path in (cli.expand_home(d) for d in argv[1:]):
    metrics = files_lib.read_json(files_lib.join(path, 'metrics.json'))
    rows.append(mechanism.row(path, _PHASE.value, _NUM.value) if metrics is None
                else mechanism.row_from_metrics(path, metrics))
  table = mechanism.markdown(rows)
  print(table, end='')
  if _OUT.value:
    files_lib.write_text_atomic(_OUT.value, table)
    files_lib.write_json_atomic(_OUT.value.rsplit('.', 1)[0] + '.json', rows, indent=2)


if __name__ == '__main__':
  cli.run(main)
