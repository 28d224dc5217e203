"""What the checkpoint checksums cost: a save and a restore of a phase's train state with them
(checkpoints.save_checkpoint, checkpoints.read) against Orbax alone, side by side.

Run: python -m benchmarks.checkpoint_cost [--preset=fashion_mnist:quick] [--phases=vae,glow]
         [--rounds=5] [--out=FILE]
Per phase, on the preset's model (its real TrainState: parameters, frozen parameters, Adam state),
alternating rounds of: an Orbax save (StandardSave, waited for) and one with the fingerprints and
file CRCs; an Orbax restore into the state and one with both checks; and the fingerprint pass
alone. Medians are reported; each save goes to a fresh step of a local temporary folder.
"""

from __future__ import annotations

import shutil
import tempfile
import time

import jax
from absl import app, flags

from benchmarks import harness
from vaeglow_jax.io import checkpoints
from vaeglow_jax import phases
from vaeglow_jax.training import train as train_lib

_PRESET = flags.DEFINE_string('preset', 'fashion_mnist:quick', 'dataset:preset of the model')
_PHASES = flags.DEFINE_list('phases', ['vae', 'glow'], 'phases whose train state is saved')
_ROUNDS = flags.DEFINE_integer('rounds', 5, 'alternating rounds; medians are reported')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')


def _state(config, phase_name, shape):
  config = config.copy_and_resolve_references()
  config.phase = phase_name
  phase = phases.build(config, shape)
  x = jax.random.uniform(jax.random.PRNGKey(0), (2,) + shape)
  variables = jax.jit(phase.init)(jax.random.PRNGKey(1), x)
  tx = train_lib.make_optimizer(config, 100)
  return train_lib.create_state(variables, phase.spec.trainable, tx)


def _timed(fn) -> float:
  start = time.perf_counter()
  jax.block_until_ready(fn())
  return time.perf_counter() - start


def main(argv):
  del argv
  import orbax.checkpoint as ocp
  dataset, preset = _PRESET.value.split(':')
  config = harness.model_config(dataset, preset)
  shape = harness.image_shape_of(config, dataset, preset)
  rows = []
  result = {'benchmark': 'checkpoint_cost', 'machine': harness.machine(), 'preset': _PRESET.value,
            'rounds': _ROUNDS.value, 'results': rows}
  for phase_name in _PHASES.value:
    state = _state(config, phase_name, shape)
    folder = tempfile.mkdtemp(prefix='checkpoint_cost_')
    try:
      plain = checkpoints.checkpoint_manager(f'{folder}/plain', 100)
      checked = checkpoints.checkpoint_manager(f'{folder}/checked', 100)

      def orbax_save(step):
        plain.save(step, args=ocp.args.StandardSave(state), force=True)
        plain.wait_until_finished()

      checkpoints.fingerprints(state)  # compiled once, outside the timings
      times = {k: [] for k in ('save_orbax', 'save_checked', 'restore_orbax', 'restore_checked',
                               'fingerprints')}
      for step in range(1, _ROUNDS.value + 1):
        times['save_orbax'].append(_timed(lambda s=step: orbax_save(s)))
        times['save_checked'].append(_timed(
            lambda s=step: checkpoints.save_checkpoint(checked, state, step=s)))
        times['restore_orbax'].append(_timed(
            lambda s=step: checkpoints.restore_checkpoint(plain, state, s)))
        times['restore_checked'].append(_timed(lambda s=step: checkpoints.read(checked, s, state)))
        times['fingerprints'].append(_timed(lambda: checkpoints.fingerprints(state)))
      size = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(state))
      medians = {k: harness.median(v) for k, v in times.items()}
      rows.append({'phase': phase_name, 'state_bytes': int(size), 'median_seconds': medians,
                   'all_seconds': times,
                   'save_overhead': medians['save_checked'] / medians['save_orbax'] - 1,
                   'restore_overhead': medians['restore_checked'] / medians['restore_orbax'] - 1})
      print(f"{phase_name}: {size / 2**20:.1f} MiB; save {medians['save_orbax'] * 1000:.0f} -> "
            f"{medians['save_checked'] * 1000:.0f} ms, restore {medians['restore_orbax'] * 1000:.0f}"
            f" -> {medians['restore_checked'] * 1000:.0f} ms, fingerprints "
            f"{medians['fingerprints'] * 1000:.1f} ms", flush=True)
      harness.write(result, _OUT.value)
    finally:
      shutil.rmtree(folder, ignore_errors=True)
  harness.emit(result, _OUT.value)


if __name__ == '__main__':
  app.run(main)
