"""The learning rate is logged to TensorBoard beside the training terms."""

import tensorflow_datasets as tfds

from tests.helpers import train_config
from vaeglow_jax.evaluation import figures
from vaeglow_jax.training import trainer


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
