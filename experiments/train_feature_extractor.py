r"""Trains the offline FID feature extractor (a small classifier) on a dataset's train split.

  python -m experiments.train_feature_extractor --config=fashion_mnist \
      --workdir=workdirs/feature_extractor/fashion_mnist [--config.feature_extractor.num_steps=N]

Then evaluate with --config.eval.feature_extractor_dir=<that workdir>. Prints the test accuracy.
"""

from absl import flags
from ml_collections import config_flags

from experiments import cli

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config: NAME[:PRESET] (e.g. fashion_mnist:quick) or a file path.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for the classifier checkpoint.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  del argv
  from vaeglow_jax import distributed
  from vaeglow_jax.training import feature_extractor
  config = cli.config(_CONFIG)
  distributed.initialize(config)  # entry points start the runtime; the library never does
  info = feature_extractor.train(config, _WORKDIR.value)
  if distributed.is_primary():
    print(f"feature extractor for {info['dataset']}: test accuracy {info['test_accuracy']:.4f} "
          f"({info['num_test_examples']} test images); saved in {_WORKDIR.value}")


if __name__ == '__main__':
  cli.run(main)
