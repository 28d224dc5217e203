"""python -m experiments.verify: the `vaeglow-verify` command (vaeglow_jax.cli.verify); its
--help lists the flags."""

from vaeglow_jax.cli.verify import main, run  # noqa: F401

if __name__ == '__main__':
  run()
