"""pixel_errors: error splits and within-class spread on constructed cases with known answers."""

import numpy as np

from vaeglow_jax.evaluation.metrics import pixel_errors


def test_error_split_separates_background_and_foreground():
  rng = np.random.default_rng(0)
  images = np.zeros((200, 4, 4, 1))
  images[:, :2] = 0.8  # the top half is foreground
  means = images.copy()
  means[:, :2] += rng.normal(0, 0.2, (200, 2, 4, 1))  # error only on the foreground
  means[:, 2:] += rng.normal(0, 0.01, (200, 2, 4, 1))
  log_stds = np.log(np.abs(means - images) + 1e-3)
  out = pixel_errors.error_split(pixel_errors.per_pixel(images, means, log_stds))
  assert out['background_fraction'] == 0.5
  np.testing.assert_allclose(out['rms_foreground'], 0.2, rtol=0.05)
  np.testing.assert_allclose(out['rms_background'], 0.01, rtol=0.1)
  # the top pixel (10% of 16) is one of the 8 foreground pixels, which hold ~all the error: ~1/8
  # of it, where an error spread evenly would give 1/16
  assert 0.1 < out['top10_error_share'] < 0.2
  assert out['log_mse_log_variance_corr'] > 0.9


def test_within_class_spread_is_one_for_the_data_and_below_for_prototypes():
  rng = np.random.default_rng(1)
  centers = rng.normal(0, 5, (3, 8))
  labels = np.repeat(np.arange(3), 100)
  data = centers[labels] + rng.normal(0, 1, (300, 8))
  same = pixel_errors.within_class_spread(data, labels, data, labels)
  assert same['mean_ratio'] == 1.0
  prototypes = centers[labels] + rng.normal(0, 0.3, (300, 8))
  shrunk = pixel_errors.within_class_spread(prototypes, labels, data, labels)
  np.testing.assert_allclose(shrunk['mean_ratio'], 0.3, rtol=0.15)
  assert set(shrunk['by_class']) == {0, 1, 2}
