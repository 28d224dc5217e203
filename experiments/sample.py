"""python -m experiments.sample: the `vaeglow-sample` command (vaeglow_jax.cli.sample); its
--help lists the flags."""

from vaeglow_jax.cli.sample import main, run  # noqa: F401

if __name__ == '__main__':
  run()
