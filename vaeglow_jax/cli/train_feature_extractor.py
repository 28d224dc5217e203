r"""Trains the offline FID feature extractor (a small classifier) on a dataset's train split.

  vaeglow-features --config=fashion_mnist \
      --workdir=workdirs/feature_extractor/fashion_mnist [--config.feature_extractor.num_steps=N]

(In a clone: python -m experiments.train_feature_extractor with the same flags.)

Then evaluate with --config.eval.feature_extractor_dir=<that workdir>. Prints the test accuracy.
"""

from absl import flags

from vaeglow_jax.cli import common as cli

_FLAGS = {}  # name -> absl FlagHolder, filled by _define_flags


def _define_flags() -> None:
  """The command's flags, defined when it runs (so that importing it defines none: the
  commands share flag names)."""
  cli.define_config_and_workdir(_FLAGS, 'Directory for the classifier checkpoint.')


def main(argv):
  del argv
  from vaeglow_jax.runtime import distributed
  from vaeglow_jax.training import feature_extractor
  config = cli.config(_FLAGS['config'])
  distributed.initialize(config)  # entry points start the runtime; the library never does
  info = feature_extractor.train(config, flags.FLAGS.workdir)
  if distributed.is_primary():
    print(f"feature extractor for {info['dataset']}: test accuracy {info['test_accuracy']:.4f} "
          f"({info['num_test_examples']} test images); saved in {flags.FLAGS.workdir}")


def run():
  """The `vaeglow-features` console script."""
  _define_flags()
  cli.run(main)


if __name__ == '__main__':
  run()
