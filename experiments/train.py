"""python -m experiments.train: the `vaeglow-train` command (vaeglow_jax.cli.train); its
--help lists the flags."""

from vaeglow_jax.cli.train import main, run  # noqa: F401

if __name__ == '__main__':
  run()
