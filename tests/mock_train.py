"""Runs `python -m experiments.train ARGS` on mock Fashion-MNIST (tfds.testing.mock_data),
so subprocess tests (kill, SIGTERM, CLI errors) need no dataset.

With VAEGLOW_TEST_POISON_PROCESS=i, process i's reconstruction term is NaN on its own slice of
each batch (a non-finite step that starts on one host). With VAEGLOW_TEST_SIGTERM_AT_BATCH=k,
the process sends itself SIGTERM as the loop takes its k-th training batch (1-based), then
waits 2 s: a preemption at a known point of the run, however slow or fast the machine.
VAEGLOW_TEST_SIGINT_AT_BATCH=k does the same with SIGINT (a Ctrl-C), and
VAEGLOW_TEST_SIGKILL_AT_BATCH=k kills the process there (a host lost mid-run).
VAEGLOW_TEST_DAMAGED_STEP=s makes process 1 alone read checkpoint s as damaged."""

import os
import runpy
import signal
import sys
import time

import tensorflow_datasets as tfds


# Images in each mock split: tests that compare with a launch train their reference on as many.
NUM_EXAMPLES = 32


def _poison_this_process():
  from tests.helpers import poisoned_per_example
  from vaeglow_jax import phases
  phases.VAEPhase.per_example = poisoned_per_example(phases.VAEPhase.per_example)


def _signal_at_batch(k: int, signum: int):
  from vaeglow_jax import data

  def train_iterator(*args, **kwargs):
    for i, batch in enumerate(original(*args, **kwargs), start=1):
      if i == k:
        os.kill(os.getpid(), signum)
        # The notice reaches the other processes through the coordination service, not at once:
        # without a pause, a fast run could pass its last step before they agree to stop.
        time.sleep(2)
      yield batch

  original, data.train_iterator = data.train_iterator, train_iterator


def _damaged_on_this_process(step: int):
  """This process alone reads checkpoint `step` as damaged (its copy of an array differs)."""
  from vaeglow_jax.io import checkpoints
  original = checkpoints.verify

  def verify(tree, directory, at, saved):
    if at == step:
      raise checkpoints.DamagedCheckpoint(f'checkpoint {directory}/{at} is damaged: simulated on '
                                          'this process only')
    return original(tree, directory, at, saved)

  checkpoints.verify = verify


if __name__ == '__main__':
  # VAEGLOW_TEST_DAMAGED_STEP=s: process 1 alone reads checkpoint s as damaged.
  damaged = os.environ.get('VAEGLOW_TEST_DAMAGED_STEP')
  if damaged and any(a == '--config.distributed.process_id=1' for a in sys.argv):
    _damaged_on_this_process(int(damaged))
  for name, signum in (('SIGTERM', signal.SIGTERM), ('SIGINT', signal.SIGINT),
                       ('SIGKILL', signal.SIGKILL)):
    if os.environ.get(f'VAEGLOW_TEST_{name}_AT_BATCH'):
      _signal_at_batch(int(os.environ[f'VAEGLOW_TEST_{name}_AT_BATCH']), signum)
  poisoned_process = os.environ.get('VAEGLOW_TEST_POISON_PROCESS')
  if poisoned_process is not None and int(poisoned_process) == int(
      next(a.split('=')[1] for a in sys.argv if a.startswith('--config.distributed.process_id='))):
    _poison_this_process()
  # VAEGLOW_TEST_ENTRY=experiments.evaluate runs that entry point on the same mock data instead.
  entry = os.environ.get('VAEGLOW_TEST_ENTRY', 'experiments.train')
  with tfds.testing.mock_data(num_examples=NUM_EXAMPLES):
    sys.argv[0] = entry
    runpy.run_module(entry, run_name='__main__', alter_sys=True)
