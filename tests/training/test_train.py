"""End-to-end training on mock Fashion-MNIST (8x8, tiny model): phase hand-off,
frozen parameters, resume, data parallelism, clear errors."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests.helpers import assert_trees_equal, latest_state, train_config
from vaeglow_jax.config import history as config_history
from vaeglow_jax.runtime import sharding
from vaeglow_jax.io import checkpoints
from vaeglow_jax import phases
from vaeglow_jax.evaluation import evaluator as evaluation
from vaeglow_jax.evaluation import report
from vaeglow_jax.training import trainer
from vaeglow_jax.training import train as train_lib

pytestmark = pytest.mark.slow





def test_vae_then_glow_freezes_phase1_and_learns(tmp_path):
  workdir = str(tmp_path)
  with tfds.testing.mock_data(num_examples=32):
    history = trainer.train_and_evaluate(train_config('vae', steps=20, log_every_steps=5), workdir)
    losses = [m['loss'] for _, m in history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    _, stage1 = latest_state(workdir, 'vae')
    history = trainer.train_and_evaluate(
        train_config('glow', steps=20, log_every_steps=5, checkpoint_every_steps=10), workdir)
    losses = [m['loss'] for _, m in history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
  # Every checkpoint phase 2 wrote holds the phase-1 parameters bitwise unchanged.
  manager = checkpoints.checkpoint_manager(os.path.join(workdir, 'glow', 'checkpoints'), 3)
  assert len(manager.all_steps()) >= 2
  for step in manager.all_steps():
    saved = checkpoints.restore_raw(manager, step)
    assert set(saved['params']) == {'glow'}
    assert set(saved['frozen']) == {'encoder', 'decoder', 'prior'}
    assert_trees_equal(saved['frozen'], stage1['params'])
    # Optimizer state exists for the Glow layer only (plus Adam's step counts).
    for path, _ in jax.tree_util.tree_flatten_with_path(saved['opt_state'])[0]:
      name = jax.tree_util.keystr(path)
      assert "['glow']" in name or 'count' in name, name
  for name in ('config.json', os.path.join('samples', 'step_20.png')):
    assert os.path.exists(os.path.join(workdir, 'glow', name))


def test_a_new_phase_is_one_table_entry(tmp_path, monkeypatch):
  """The worked example of adding a phase: a prior and Glow layer fitted together on the frozen
  phase-1 encoder and decoder is one PhaseSpec; the trainer, checkpoints, sampling, evaluation
  and the report follow."""
  monkeypatch.setitem(phases.SPECS, 'prior_glow', phases.PhaseSpec(
      phases.VAE_MODEL, trainable=('prior', 'glow'), from_stage1=('encoder', 'decoder'),
      label='VAE + prior and Glow layer fitted together', stage1='vae', use_glow=True))
  workdir = str(tmp_path)
  with tfds.testing.mock_data(num_examples=16):
    trainer.train_and_evaluate(train_config('vae', steps=2), workdir)
    history = trainer.train_and_evaluate(train_config('prior_glow', steps=4, log_every_steps=2),
                                         workdir)
  assert history and all(np.isfinite(m['loss']) for _, m in history)
  _, stage1 = latest_state(workdir, 'vae')
  step, saved = latest_state(workdir, 'prior_glow')
  assert step == 4 and set(saved['params']) == {'prior', 'glow'}
  assert_trees_equal(saved['frozen'], {k: stage1['params'][k] for k in ('encoder', 'decoder')})
  assert os.path.exists(os.path.join(workdir, 'prior_glow', 'samples', 'step_4.png'))
  config = config_history.trained_config(workdir, 'prior_glow', train_config('prior_glow'))
  config.update_from_flattened_dict({'eval.iw_samples': 2, 'eval.max_test_examples': 8,
                                     'eval.num_fid_samples': 4, 'eval.temperatures': (0.5,)})
  with tfds.testing.mock_data(num_examples=16):
    metrics = evaluation.evaluate(config, workdir, log=lambda *_: None)
  assert np.isfinite(metrics['test_bpd_iw']) and 'seconds_per_epoch_phase1' in metrics
  table = report.markdown_table(report.load_rows([workdir]))
  assert 'VAE + prior and Glow layer fitted together' in table


def test_resume_equals_uninterrupted_run(tmp_path):
  with tfds.testing.mock_data(num_examples=32):
    trainer.train_and_evaluate(train_config('vae', steps=8, checkpoint_every_steps=4), str(tmp_path / 'a'))
    trainer.train_and_evaluate(train_config('vae', steps=4, checkpoint_every_steps=4), str(tmp_path / 'b'))
    trainer.train_and_evaluate(train_config('vae', steps=8, checkpoint_every_steps=4), str(tmp_path / 'b'))
  step_a, a = latest_state(str(tmp_path / 'a'), 'vae')
  step_b, b = latest_state(str(tmp_path / 'b'), 'vae')
  assert step_a == step_b == 8
  assert_trees_equal(a['params'], b['params'])
  assert_trees_equal(a['opt_state'], b['opt_state'])


def test_four_devices_match_one_device():
  assert jax.device_count() >= 4, 'tests/conftest.py sets 4 simulated CPU devices'
  config = train_config('vae')
  phase = phases.build(config, (8, 8, 1))
  images = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 1), dtype=np.uint8)
  tx = train_lib.make_optimizer(config, steps_per_epoch=10)
  x = jnp.asarray(images, jnp.float32) / 256.0
  variables = jax.device_get(jax.jit(phase.init)(jax.random.PRNGKey(0), x))
  results = []
  for num_devices in (1, 4):
    mesh = sharding.make_mesh(num_devices)
    # A fresh copy each time: the train step donates (deletes) its input state.
    state = sharding.replicate(train_lib.create_state(variables, phase.spec.trainable, tx), mesh)
    step = train_lib.make_train_step(phase, tx, mesh)
    state, metrics = step(state, sharding.shard_batch(images, mesh), jax.random.PRNGKey(1))
    results.append((jax.device_get(state.params), float(metrics['loss'])))
    for _ in range(2):  # later steps reuse the first compilation
      state, _ = step(state, sharding.shard_batch(images, mesh), jax.random.PRNGKey(1))
    assert step._cache_size() == 1
  assert results[0][1] == pytest.approx(results[1][1], rel=1e-5)
  for p1, p4 in zip(jax.tree_util.tree_leaves(results[0][0]), jax.tree_util.tree_leaves(results[1][0])):
    np.testing.assert_allclose(p1, p4, rtol=1e-4, atol=1e-6)


def test_batch_not_divisible_by_devices_is_an_error(tmp_path):
  with pytest.raises(ValueError, match='multiple of the device count 4'):
    trainer.train_and_evaluate(train_config('vae', batch_size=6), str(tmp_path))
  assert list(tmp_path.iterdir()) == []


def test_glow_without_phase1_checkpoint_is_an_error(tmp_path):
  with tfds.testing.mock_data(num_examples=16):
    with pytest.raises(trainer.TrainingError, match='needs a phase-1 checkpoint'):
      trainer.train_and_evaluate(train_config('glow'), str(tmp_path))
  assert not (tmp_path / 'glow').exists()


@pytest.mark.parametrize('phase', ['glow_baseline', 'second_stage', 'joint', 'prior'])
def test_other_phases_train(tmp_path, phase):
  overrides = {}
  if phase == 'prior':  # validation every step with early stopping; saves only improvements
    overrides = {'eval_every_steps': 1, 'early_stopping_patience': 2, 'eval_max_examples': 16}
  with tfds.testing.mock_data(num_examples=16):
    if phases.get_spec(phase).from_stage1:
      trainer.train_and_evaluate(train_config('vae', steps=2), str(tmp_path))
    history = trainer.train_and_evaluate(train_config(phase, steps=4, log_every_steps=2, **overrides),
                                         str(tmp_path))
  assert history and all(np.isfinite(m['loss']) for _, m in history)
  assert latest_state(str(tmp_path), phase)[0] is not None
  if phase != 'prior':
    assert os.path.exists(tmp_path / phase / 'samples' / 'step_4.png')
