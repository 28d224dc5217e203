"""The learning-rate schedule (a pure function of the update count) and its TensorBoard scalar."""

import ml_collections
import pytest
import tensorflow_datasets as tfds

from tests.helpers import train_config
from vaeglow_jax.config import checks, schema
from vaeglow_jax.evaluation import figures
from vaeglow_jax.training import train as train_lib
from vaeglow_jax.training import trainer


def _config(**overrides) -> ml_collections.ConfigDict:
  config = schema.defaults()
  config.update(dict(learning_rate=1e-3, warmup_steps=0), **overrides)
  return config


def _rates(config, steps_per_epoch, updates):
  schedule = train_lib.learning_rate_schedule(config, steps_per_epoch)
  return [float(schedule(u)) for u in updates]


def test_halving_in_epochs_depends_on_the_dataset_and_in_steps_does_not():
  by_epoch = _config(lr_halve_every_epochs=1)
  # One epoch = 4 updates on a small folder, 859 on Fashion-MNIST: the same config starves the
  # small folder (halved 15 times by update 60) ...
  assert _rates(by_epoch, 4, [60])[0] == pytest.approx(1e-3 / 2 ** 15)
  assert _rates(by_epoch, 859, [60, 858, 859])[0:3] == pytest.approx([1e-3, 1e-3, 5e-4])
  # ... and a schedule in steps means the same on both.
  by_steps = _config(lr_halve_every_epochs=1, lr_halve_every_steps=859)
  for steps_per_epoch in (4, 859, 5000):
    assert _rates(by_steps, steps_per_epoch, [60, 858, 859, 1718, 4000]) == pytest.approx(
        [1e-3, 1e-3, 5e-4, 2.5e-4, 1e-3 / 16])


def test_the_floor_stops_the_halving_and_warmup_comes_first():
  config = _config(lr_halve_every_steps=10, min_learning_rate=2e-4, warmup_steps=4)
  # Warm-up over 4 updates, then halvings counted from its end: 1e-3, 5e-4, 2.5e-4, then the floor.
  assert _rates(config, 1, [0, 2, 4, 13, 14, 24, 34, 1000]) == pytest.approx(
      [0.0, 5e-4, 1e-3, 1e-3, 5e-4, 2.5e-4, 2e-4, 2e-4])


def test_bad_schedule_values_are_one_line():
  config = train_config('vae')
  config.lr_halve_every_steps = -1
  config.min_learning_rate = 1.0
  with pytest.raises(checks.ConfigError, match=r'lr_halve_every_steps must be >= 0 .*; '
                     r'min_learning_rate must be in \[0, learning_rate='):
    checks.validate_config(config)


@pytest.mark.slow
def test_learning_rate_is_a_tensorboard_scalar(tmp_path):
  # 2 warm-up steps to 3e-3, then halved every 2 steps (lr_halve_every_epochs x 2 steps/epoch):
  # updates 0, 1, 2, 3, 4, 5 use 0, 1.5e-3, 3e-3, 3e-3, 1.5e-3, 1.5e-3.
  config = train_config('vae', steps=6, num_devices=1, warmup_steps=2, learning_rate=3e-3,
                        log_every_steps=2, lr_halve_every_epochs=1, batch_size=8)
  with tfds.testing.mock_data(num_examples=16):
    trainer.train_and_evaluate(config, str(tmp_path))
  logged = figures.read_scalars(str(tmp_path / 'vae'))['train/learning_rate']
  assert [step for step, _ in logged] == [2, 4, 6]
  for (_, got), want in zip(logged, (1.5e-3, 3e-3, 1.5e-3)):
    assert abs(got - want) < 1e-9, logged


def test_the_quick_presets_step_schedule_is_their_old_epoch_schedule_on_fashion_mnist():
  """859 updates = one epoch of 55,000 images at batch 64: the runs of RESULTS.md, trained when
  the preset halved every epoch, get the same schedule; a 300-image folder no longer collapses."""
  from vaeglow_jax.presets import fashion_mnist
  for preset in ('quick', 'smoke'):
    config = fashion_mnist.get_config(preset)
    assert train_lib.halving_steps(config, 55_000 // 64) == 1 * (55_000 // 64)
    assert train_lib.halving_steps(config, 300 // 64) == 859
