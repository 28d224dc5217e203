r"""Trains one phase of the model.

  vaeglow-train --config=fashion_mnist:quick \
      --workdir=/tmp/fmnist [--config.phase=glow] [--config.KEY=VALUE ...] [--verbose]

(In a clone: python -m experiments.train with the same flags.)

Exit codes: 0 done; 2 bad input (one line on stderr, work directory unchanged);
143 stopped by SIGTERM, 130 by Ctrl-C, after writing a final checkpoint (rerun to resume); 130 also
after a second Ctrl-C, which stops at once and keeps the checkpoints already saved.
"""

from absl import flags

from vaeglow_jax.cli import common as cli

_FLAGS = {}  # name -> absl FlagHolder, filled by _define_flags


def _define_flags() -> None:
  """The command's flags, defined when it runs (so that importing it defines none: the
  commands share flag names)."""
  cli.define_config_and_workdir(_FLAGS, 'Directory for checkpoints, samples and metrics.')


def main(argv):
  del argv
  from vaeglow_jax.runtime import distributed
  from vaeglow_jax.runtime import environment
  from vaeglow_jax.training import trainer
  config = cli.config(_FLAGS['config'])
  environment.use_cpu_cores(config)  # before the backends start
  distributed.initialize(config)  # entry points start the runtime; the library never does
  try:
    trainer.train_and_evaluate(config, flags.FLAGS.workdir)
  except trainer.Preempted as e:
    cli.fail(str(e), cli.EXIT_INTERRUPTED if e.by_ctrl_c else cli.EXIT_PREEMPTED)


def run():
  """The `vaeglow-train` console script."""
  _define_flags()
  cli.run(main)


if __name__ == '__main__':
  run()
