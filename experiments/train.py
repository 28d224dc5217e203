r"""Trains one phase of the model.

  python -m experiments.train --config=experiments/configs/fashion_mnist.py:quick \
      --workdir=/tmp/fmnist [--config.phase=glow] [--config.KEY=VALUE ...]
"""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file (path[:preset]).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for checkpoints, samples and metrics.')
_VERBOSE = flags.DEFINE_bool('verbose', False, 'Show stack traces for errors.')
flags.mark_flags_as_required(['config', 'workdir'])


class _QuietLibraries:
  """Drops INFO records from Orbax and TFDS internals; warnings and errors pass."""

  def filter(self, record):
    import logging as std_logging
    noisy = ('/orbax/', '/tensorflow_datasets/', '/jax/_src/')
    return record.levelno >= std_logging.WARNING or not any(n in record.pathname for n in noisy)


def main(argv):
  del argv
  if not _VERBOSE.value:
    logging.get_absl_handler().addFilter(_QuietLibraries())
  from vaeglow_jax import trainer
  from vaeglow_jax.data import DataError
  try:
    trainer.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except (trainer.TrainingError, DataError, ValueError) as e:
    if _VERBOSE.value:
      raise
    logging.error('%s', e)
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  app.run(main)
