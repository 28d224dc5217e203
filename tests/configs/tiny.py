"""The tests' configuration: the Fashion-MNIST quick preset shrunk to 8x8 images and models a
few hundred parameters wide, so that a test compiles and trains in seconds.

Also a config file: --config=tests/configs/tiny.py (the CLI tests, scripts' rehearsals and the
benchmarks' --preset=test smoke runs use it).
"""

from experiments.configs import fashion_mnist


def get_config():
  c = fashion_mnist.get_config('quick')
  c.batch_size = 8
  c.num_train_steps = 6
  c.checkpoint_every_steps = 3
  c.log_every_steps = 2
  c.sample_every_steps = 6
  c.num_samples = 4
  c.data.resize = 8
  c.data.shuffle_buffer = 64
  c.model.num_scales = 2
  c.model.latent_dim = 4
  c.model.min_log_std = -5.0  # the tiny models' numerics as before the quick floor moved to -7
  c.model.base_channels = 8
  c.model.fc_dim = 16
  c.model.prior.num_layers = 2
  c.model.prior.hidden = 16
  c.model.glow.depth = 2
  c.model.glow.hidden = 8
  c.model.second_stage.width = 16
  c.model.baseline.depth = 2
  c.model.baseline.hidden = 8
  c.feature_extractor.update(widths=(8, 16), feature_dim=16, num_steps=20, batch_size=32,
                             max_train_examples=256)
  c.eval.update(batch_size=8, max_test_examples=32, iw_samples=4, num_fid_samples=24,
                num_grid_samples=4, num_interpolations=2, interpolation_steps=3)
  c.calibration.update(num_images=48, blur_sigmas=(1.0, 2.0), noise_stds=(0.05, 0.2),
                       keep_classes=(10, 2), sample_counts=(16,))
  return c
