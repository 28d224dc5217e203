"""Runs `python -m experiments.train ARGS` on mock Fashion-MNIST (tfds.testing.mock_data),
so subprocess tests (kill, SIGTERM, CLI errors) need no dataset.

With VAEGLOW_TEST_POISON_PROCESS=i, process i's reconstruction term is NaN on its own slice of
each batch (a non-finite step that starts on one host)."""

import os
import runpy
import sys

import tensorflow_datasets as tfds


def _poison_this_process():
  from tests.helpers import poisoned_per_example
  from vaeglow_jax import phases
  phases.VAEPhase.per_example = poisoned_per_example(phases.VAEPhase.per_example)


if __name__ == '__main__':
  poisoned_process = os.environ.get('VAEGLOW_TEST_POISON_PROCESS')
  if poisoned_process is not None and int(poisoned_process) == int(
      next(a.split('=')[1] for a in sys.argv if a.startswith('--config.distributed.process_id='))):
    _poison_this_process()
  with tfds.testing.mock_data(num_examples=32):
    sys.argv[0] = 'experiments.train'
    runpy.run_module('experiments.train', run_name='__main__', alter_sys=True)
