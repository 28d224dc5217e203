r"""Evaluates a trained phase: test bits/dim (ELBO and importance-weighted), FID with a
temperature sweep, figures, seconds per epoch.

  python -m experiments.evaluate --config=experiments/configs/fashion_mnist.py:quick \
      --workdir=workdirs/fashion_mnist_quick --config.phase=glow \
      --config.eval.feature_extractor_dir=workdirs/feature_extractor/fashion_mnist \
      [--config.eval.inception_weights=inception_fid.npz] [--config.KEY=VALUE ...]

Use the config (and overrides) the phase was trained with. Writes
WORKDIR/eval/metrics.json ({phase: metrics}) and figures under WORKDIR/eval/<phase>/.
Exit codes: 0 done; 2 bad input (one line on stderr, nothing written).
"""

import json
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from experiments import cli  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file (path[:preset]).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Work directory of the trained model.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  del argv
  from vaeglow_jax import evaluation
  config = cli.config(_CONFIG)
  metrics = evaluation.evaluate(config, _WORKDIR.value)
  shown = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
  print(json.dumps(shown, indent=1, sort_keys=True))
  print(f'metrics: {os.path.join(_WORKDIR.value, "eval", "metrics.json")}; figures: '
        f'{os.path.join(_WORKDIR.value, "eval", config.phase)}/')


def _user_errors():
  from vaeglow_jax import evaluation, trainer
  from vaeglow_jax.data import DataError
  from vaeglow_jax.metrics.feature_extractor import FeatureExtractorError
  from vaeglow_jax.metrics.inception import InceptionWeightsError
  from vaeglow_jax.reliability import WorkdirError
  return (evaluation.EvaluationError, trainer.TrainingError, DataError, FeatureExtractorError,
          InceptionWeightsError, WorkdirError, ValueError)


if __name__ == '__main__':
  cli.run(main, _user_errors())
