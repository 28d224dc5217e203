"""python -m experiments.evaluate: the `vaeglow-evaluate` command (vaeglow_jax.cli.evaluate); its
--help lists the flags."""

from vaeglow_jax.cli.evaluate import main, run  # noqa: F401

if __name__ == '__main__':
  run()
