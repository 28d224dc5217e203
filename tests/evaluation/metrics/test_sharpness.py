"""Laplacian energy: closed forms, and the direction blur and noise move it."""

import numpy as np

from vaeglow_jax.evaluation.metrics import sharpness


def test_constant_and_linear_images_have_none_and_a_checkerboard_has_16():
  constant = np.full((1, 6, 6, 1), 0.3)
  ramp = np.broadcast_to(np.arange(6.0)[None, :, None, None] / 10, (1, 6, 6, 2))
  i, j = np.meshgrid(np.arange(6), np.arange(6), indexing='ij')
  checkerboard = ((i + j) % 2).astype(float)[None, :, :, None]
  np.testing.assert_allclose(sharpness.laplacian_energy(constant), [0.0], atol=1e-20)
  np.testing.assert_allclose(sharpness.laplacian_energy(ramp), [0.0], atol=1e-20)
  np.testing.assert_allclose(sharpness.laplacian_energy(checkerboard), [16.0])  # (+-4)^2 everywhere


def test_blur_lowers_and_noise_raises_the_energy_relative_to_the_images():
  from vaeglow_jax.evaluation import calibration
  rng = np.random.default_rng(0)
  images = np.kron(rng.uniform(size=(8, 7, 7, 1)), np.ones((1, 4, 4, 1)))  # blocky 28x28 images
  assert sharpness.relative_energy(images, images) == 1.0
  assert sharpness.relative_energy(calibration.gaussian_blur(images, 1.0), images) < 0.5
  assert sharpness.relative_energy(images + 0.1 * rng.normal(size=images.shape), images) > 1.5
