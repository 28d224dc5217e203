"""The asynchronous training loop: device-side metric sums and non-finite guard, host reads
only when an action is due, and periodic actions at the right steps."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vaeglow_jax.runtime import sharding
from vaeglow_jax.training import loop as loop_lib
from vaeglow_jax.training import train as train_lib


class ToyPhase:
  """Least squares on the pixel mean: small enough to compile in a second. A batch whose
  pixels are all 255 gives a NaN reconstruction (the non-finite trigger)."""
  n_bits = 8

  def per_example(self, variables, x, rng):
    del rng
    w = variables['params']['toy']['w']
    mean = jnp.mean(x, axis=(1, 2, 3))
    recon = (w * mean - 1.0) ** 2
    recon = jnp.where(mean > 0.99, jnp.nan, recon)
    kl = 0.1 * w ** 2 * jnp.ones_like(mean)
    return {'recon': recon, 'kl': kl, 'objective': recon + kl}

  def set_optimal_gamma(self, params, terms):
    del terms
    return params

  def bits_per_dim(self, neg_log_density):
    return neg_log_density / np.log(2.0)


def _setup(stop_on_nonfinite=False, max_consecutive=3):
  phase, mesh, tx = ToyPhase(), sharding.make_mesh(1), optax.sgd(0.1)
  variables = {'params': {'toy': {'w': jnp.zeros(())}}}
  state = sharding.replicate(train_lib.create_state(variables, ('toy',), tx), mesh)
  images = np.full((4, 2, 2, 1), 100, np.uint8)
  loop_step, reset = train_lib.make_loop_step(phase, tx, mesh, stop_on_nonfinite, max_consecutive)
  monitor = train_lib.new_monitor(phase, mesh, state, sharding.shard_batch(images, mesh))
  return phase, mesh, tx, state, monitor, loop_step, reset


def _batches(mesh, bad_steps=(), n=50, seed=0):
  """Step i (1-based) gets an all-255 batch if i is in bad_steps."""
  rng = np.random.default_rng(seed)
  for i in range(1, n + 1):
    images = rng.integers(0, 200, (4, 2, 2, 1), dtype=np.uint8)
    if i in bad_steps:
      images[:] = 255
    yield sharding.shard_batch(images, mesh)


def test_monitor_sums_equal_the_plain_steps_metrics():
  phase, mesh, tx, state, monitor, loop_step, _ = _setup()
  plain = train_lib.make_train_step(phase, tx, mesh)
  plain_state = jax.tree_util.tree_map(jnp.copy, state)
  expected = []
  for images in _batches(mesh, n=5):
    plain_state, metrics = plain(plain_state, images, jax.random.PRNGKey(0))
    expected.append(jax.device_get(metrics))
  for images in _batches(mesh, n=5):
    state, monitor = loop_step(state, monitor, images, jax.random.PRNGKey(0))
  stats = jax.device_get(monitor)
  assert int(stats.finite_steps) == 5 and int(stats.nonfinite_steps) == 0
  assert set(stats.sums) == set(expected[0]) - {'finite'}  # every metric the step returns
  for key in ('recon', 'kl', 'loss', 'grad_norm', 'bpd'):
    np.testing.assert_allclose(float(stats.sums[key]) / 5, np.mean([m[key] for m in expected]),
                               rtol=1e-5)
  np.testing.assert_allclose(np.asarray(state.params['toy']['w']),
                             np.asarray(plain_state.params['toy']['w']), rtol=1e-6)


def test_skipped_steps_are_counted_and_named_on_the_device():
  _, mesh, _, state, monitor, loop_step, reset = _setup(max_consecutive=3)
  for images in _batches(mesh, bad_steps=(3, 4), n=6):
    state, monitor = loop_step(state, monitor, images, jax.random.PRNGKey(0))
  stats = jax.device_get(monitor)
  assert (int(stats.finite_steps), int(stats.nonfinite_steps)) == (4, 2)
  assert int(stats.last_bad_step) == 4 and int(stats.consecutive_nonfinite) == 0
  assert not bool(stats.halted)
  assert loop_lib.nonfinite_message(stats, 'none yet') == (
      'non-finite reconstruction, loss at step 4; last good checkpoint: none yet')
  stats = jax.device_get(reset(monitor))
  assert int(stats.finite_steps) == 0 and all(float(v) == 0 for v in stats.sums.values())
  assert int(stats.last_bad_step) == 4  # the report survives a reset of the sums


@pytest.mark.parametrize('stop,bad,halt_step', [(True, (3,), 3), (False, (3, 4, 5), 5)])
def test_halted_run_freezes_state_and_the_loop_raises_at_the_halting_step(stop, bad, halt_step):
  _, mesh, _, state, monitor, loop_step, reset = _setup(stop_on_nonfinite=stop, max_consecutive=3)
  batches = list(_batches(mesh, bad_steps=bad, n=20))
  for images in batches[:halt_step]:
    state, monitor = loop_step(state, monitor, images, jax.random.PRNGKey(0))
  at_halt = jax.device_get((state, monitor))
  assert bool(at_halt[1].halted) and int(at_halt[1].last_bad_step) == halt_step
  for images in batches[halt_step:halt_step + 4]:  # good batches: a live run would move w
    state, monitor = loop_step(state, monitor, images, jax.random.PRNGKey(0))
  np.testing.assert_array_equal(jax.device_get(state.params['toy']['w']),
                                at_halt[0].params['toy']['w'])
  assert int(state.step) == int(at_halt[0].step)

  # The loop only reads at step 1 and step 10 here, and still names the halting step.
  _, _, _, state, monitor, loop_step, reset = _setup(stop_on_nonfinite=stop, max_consecutive=3)
  loop = loop_lib.TrainLoop(loop_step, reset, num_steps=20, log_every_steps=10,
                            nonfinite_policy='stop' if stop else 'skip',
                            last_checkpoint=lambda: 'DIR/2')
  with pytest.raises(loop_lib.TrainingError) as error:
    loop.run(state, monitor, iter(batches), jax.random.PRNGKey(0), start_step=0)
  expected = f'non-finite reconstruction, loss at step {halt_step}; last good checkpoint: DIR/2'
  assert str(error.value) == expected + ('' if stop else ' (3 consecutive steps skipped)')


def test_loop_reads_the_device_only_when_something_is_due(monkeypatch):
  _, mesh, _, state, monitor, loop_step, reset = _setup()
  reads = []
  real_get = jax.device_get
  monkeypatch.setattr(jax, 'device_get', lambda x: reads.append(1) or real_get(x))
  ran = {'every4': [], 'never': []}
  actions = [loop_lib.Action('every4', 4, lambda s, st: ran['every4'].append(s)),
             loop_lib.Action('never', 0, lambda s, st: ran['never'].append(s), at_last=False)]

  class Timer:
    intervals = []

    def record(self, steps, seconds):
      self.intervals.append(steps)

    def wall_seconds(self):
      return 0.0

  timer = Timer()
  loop = loop_lib.TrainLoop(loop_step, reset, num_steps=10, log_every_steps=5, actions=actions,
                            timer=timer)
  _, step, history = loop.run(state, monitor, _batches(mesh, n=10), jax.random.PRNGKey(0), 0)
  assert step == 10
  assert len(reads) == 5  # steps 1 (compilation), 4, 5, 8, 10
  assert ran == {'every4': [4, 8, 10], 'never': []}
  assert [s for s, _ in history] == [5, 10]
  assert timer.intervals == [3, 1, 3, 2]  # 2-4, 5, 6-8, 9-10; step 1 is compilation
  assert set(history[0][1]) == {'recon', 'kl', 'objective', 'loss', 'grad_norm', 'bpd'}


def test_actions_are_skipped_after_a_nonfinite_step_and_early_stop_ends_the_run():
  _, mesh, _, state, monitor, loop_step, reset = _setup(max_consecutive=5)
  ran = []
  actions = [loop_lib.Action('stopper', 3, lambda s, st: ran.append(s) or s >= 6),
             loop_lib.Action('after', 3, lambda s, st: ran.append(-s))]
  loop = loop_lib.TrainLoop(loop_step, reset, num_steps=20, log_every_steps=100, actions=actions)
  _, step, _ = loop.run(state, monitor, _batches(mesh, bad_steps=(3,), n=20),
                        jax.random.PRNGKey(0), 0)
  # Step 3 was non-finite: nothing ran; at step 6 the first action ends training before the second.
  assert step == 6 and ran == [6]


@pytest.mark.parametrize('every,step,last,expected', [
    (5, 10, False, True), (5, 11, False, False), (0, 10, False, False), (0, 11, True, True)])
def test_itstime(every, step, last, expected):
  assert loop_lib.itstime(step, every, last) == expected


def test_describe_mesh_names_processes_devices_and_the_per_device_batch():
  mesh = sharding.make_mesh()
  n = jax.device_count()
  text = sharding.describe_mesh(mesh, 8 * n)
  assert text.startswith(f'1 process, {n} cpu device')
  assert f"mesh {{'data': {n}}}, 8 examples per device" in text


def test_time_budget_with_several_processes_is_decided_only_at_log_steps_by_agreement():
  _, mesh, _, state, monitor, loop_step, reset = _setup()
  asked = []

  class Clock:
    def wall_seconds(self):
      return 100.0  # over budget from the start: alone, a process would stop after step 1

    def record(self, steps, seconds):
      pass

  def agree(flag):  # stands in for the collective; process 0 says "not yet" at step 4
    asked.append(flag)
    return len(asked) >= 2

  loop = loop_lib.TrainLoop(loop_step, reset, num_steps=20, log_every_steps=4, timer=Clock(),
                            max_train_seconds=1.0, agree=agree)
  _, step, history = loop.run(state, monitor, _batches(mesh, n=20), jax.random.PRNGKey(0), 0)
  assert step == 8 and asked == [True, True] and [s for s, _ in history] == [4, 8]
