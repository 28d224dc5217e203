"""ResNet encoder/decoder shapes and the decoder variance modes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vaeglow_jax.models.vae import Decoder, Encoder, floor_log_std

KEY = jax.random.PRNGKey(0)


@pytest.mark.parametrize('image_shape,num_scales', [((8, 8, 3), 2), ((28, 28, 1), 3)])
def test_encoder_decoder_shapes(image_shape, num_scales):
  x = jax.random.uniform(KEY, (2,) + image_shape)
  encoder = Encoder(latent_dim=6, num_scales=num_scales, base_channels=8, fc_dim=16)
  mean, log_std = jax.jit(encoder.apply)(jax.jit(encoder.init)(KEY, x), x)
  assert mean.shape == log_std.shape == (2, 6)
  decoder = Decoder(image_shape, num_scales=num_scales, base_channels=8, variance='diagonal')
  dec_mean, dec_log_std = jax.jit(decoder.apply)(jax.jit(decoder.init)(KEY, mean), mean)
  assert dec_mean.shape == dec_log_std.shape == (2,) + image_shape
  assert float(dec_mean.min()) > 0.0 and float(dec_mean.max()) < 1.0


def test_encoder_downsamples_with_doubling_channels():
  encoder = Encoder(latent_dim=4, num_scales=3, base_channels=8, fc_dim=16)
  params = jax.eval_shape(encoder.init, KEY, jnp.zeros((1, 8, 8, 3)))['params']
  assert params['down_0']['kernel'].shape == (3, 3, 8, 16)
  assert params['down_1']['kernel'].shape == (3, 3, 16, 32)
  assert params['fc']['block_0']['shortcut']['kernel'].shape == (32, 16)


def test_variance_modes():
  z = jax.random.normal(KEY, (3, 4))
  fixed = Decoder((8, 8, 1), num_scales=2, base_channels=8, variance='fixed', fixed_log_std=-1.5)
  _, log_std = fixed.apply(fixed.init(KEY, z), z)
  np.testing.assert_array_equal(log_std, -1.5)
  assert 'log_gamma' not in fixed.init(KEY, z)['params']

  gamma = Decoder((8, 8, 1), num_scales=2, base_channels=8, variance='gamma')
  variables = gamma.init(KEY, z)
  assert variables['params']['log_gamma'].shape == ()
  variables['params']['log_gamma'] = jnp.float32(-2.0)
  _, log_std = gamma.apply(variables, z)
  np.testing.assert_allclose(log_std, float(floor_log_std(jnp.float32(-2.0), -7.0)), rtol=1e-6)
  assert float(jnp.max(log_std) - jnp.min(log_std)) == 0.0

  diagonal = Decoder((8, 8, 1), num_scales=2, base_channels=8, variance='diagonal', min_log_std=-4.0)
  _, log_std = diagonal.apply(diagonal.init(KEY, z), z)
  assert float(jnp.std(log_std)) > 0.0  # varies per pixel
  assert float(log_std.min()) > -4.0

  with pytest.raises(ValueError, match='variance'):
    Decoder((8, 8, 1), num_scales=2, variance='full').init(KEY, z)


def test_log_std_floor_is_smooth_and_finite():
  raw = jnp.array([-1e6, -10.0, -7.0, 0.0, 5.0])
  floored = floor_log_std(raw, -7.0)
  assert bool(jnp.all(floored >= -7.0)) and bool(jnp.all(jnp.isfinite(floored)))
  np.testing.assert_allclose(floored[-1], 5.0, atol=1e-3)
  grad = jax.grad(lambda r: jnp.sum(floor_log_std(r, -7.0)))(raw)
  assert bool(jnp.all(grad >= 0)) and float(grad[-1]) > 0.99


@pytest.mark.parametrize('dataset', ['fashion_mnist', 'mnist', 'cifar10', 'celeba'])
@pytest.mark.parametrize('preset', ['default', 'quick'])
def test_every_presets_variance_floor_lets_a_constant_pixel_reach_the_bin_optimum(dataset, preset):
  """A pixel that is always 0 is y ~ U[0, 2^-n) after dequantisation. Its best Gaussian has
  sigma = 2^-n / sqrt(12) and scores about 0.25 bits; a floor above that costs more (-5 cost
  2.1 bits). Scored with the library's density and bits/dim on a fine grid over the bin."""
  import importlib
  from vaeglow_jax.models import losses
  config = importlib.import_module(f'vaeglow_jax.presets.{dataset}').get_config(preset)
  n_bits, width = config.data.n_bits, 2.0 ** -config.data.n_bits
  y = (jnp.arange(4096) + 0.5) / 4096 * width            # the bin, as one image per value
  raw = jnp.linspace(-12.0, -3.0, 901)                     # the decoder's raw log-std output
  log_std = floor_log_std(raw, config.model.min_log_std)
  # One 1-pixel image per (raw log-std, y) pair: (901 * 4096, 1, 1, 1).
  grid_y, grid_log_std = jnp.meshgrid(y, log_std)
  log_p = losses.gaussian_log_prob(grid_y.reshape(-1, 1, 1, 1), width / 2,
                                   grid_log_std.reshape(-1, 1, 1, 1)).reshape(grid_y.shape)
  bits = losses.bits_per_dim(-jnp.mean(log_p, axis=1), 1, n_bits)
  assert float(bits.min()) < 0.3
