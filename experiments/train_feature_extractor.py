"""python -m experiments.train_feature_extractor: the `vaeglow-features` command
(vaeglow_jax.cli.train_feature_extractor); its --help lists the flags."""

from vaeglow_jax.cli.train_feature_extractor import main, run  # noqa: F401

if __name__ == '__main__':
  run()
