"""The public modules' inputs, checked when traced: half precision runs (cast to float32, the
log-determinants float32), a wrong dtype or rank is one line naming what was expected; the
losses' first axis is the batch, also under vmap given x[None]; dequantize refuses floats."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vaeglow_jax as vg
from vaeglow_jax.models import inputs, losses

KEY = jax.random.PRNGKey(0)


def _glow():
  layer = vg.GlowLayer(depth=2, num_squeezes=1, mixing='shuffle', step=vg.StepOptions(hidden=8))
  x = losses.dequantize(jax.random.randint(KEY, (2, 8, 8, 1), 0, 256).astype(jnp.uint8), KEY, 8)
  variables = layer.init(KEY, x)
  # Non-trivial ActNorm and couplings, so that a half-precision run would differ if kept so.
  variables = jax.tree_util.tree_map(lambda v: v + 0.05 * jax.random.normal(KEY, v.shape)
                                     if v.dtype == jnp.float32 else v, variables)
  return layer, variables, x


@pytest.mark.parametrize('dtype', [jnp.bfloat16, jnp.float16])
def test_the_glow_layer_runs_half_precision_input_in_float32(dtype):
  layer, variables, x = _glow()
  half = x.astype(dtype)
  y, logdet = layer.apply(variables, half)
  assert y.dtype == logdet.dtype == jnp.float32 and logdet.shape == (2,)
  y_ref, logdet_ref = layer.apply(variables, half.astype(jnp.float32))
  np.testing.assert_array_equal(y, y_ref)
  np.testing.assert_array_equal(logdet, logdet_ref)
  back, _ = layer.apply(variables, y.astype(dtype), reverse=True)
  assert back.dtype == jnp.float32


@pytest.mark.parametrize('make, message', [
    (lambda x: (x * 255).astype(jnp.uint8),
     'GlowLayer takes float32 images; got uint8. Dequantise uint8 images first'),
    (lambda x: x[0], r'GlowLayer takes images of shape \(batch, H, W, C\); got shape \(8, 8, 1\): '
                     r'add a batch axis \(x\[None\]\) or a channel axis'),
    (lambda x: x[0, ..., 0], r'got shape \(8, 8\)\.'),
])
def test_a_wrong_dtype_or_rank_is_one_line(make, message):
  layer, variables, x = _glow()
  with pytest.raises(inputs.ModelInputError, match=message):
    layer.apply(variables, make(x))
  with pytest.raises(inputs.ModelInputError):  # under jit too: shapes and dtypes are static
    jax.jit(layer.apply)(variables, make(x))


def test_the_priors_and_the_full_model_check_their_inputs():
  prior = vg.FlowPrior(num_layers=2, hidden=8)
  z = jax.random.normal(KEY, (3, 4))
  variables = prior.init(KEY, z)
  u, logdet = prior.apply(variables, z.astype(jnp.bfloat16))
  assert u.dtype == logdet.dtype == jnp.float32
  with pytest.raises(inputs.ModelInputError, match=r'FlowPrior takes latents of shape \(batch, '
                                                   r'latent_dim\); got shape \(4,\): add a batch'):
    prior.apply(variables, z[0])
  with pytest.raises(inputs.ModelInputError, match='MAFPrior takes float32 latents; got int32'):
    vg.MAFPrior(num_layers=1, hidden=8).init(KEY, jnp.zeros((3, 4), jnp.int32))
  model = vg.VAEGlow(encoder=vg.Encoder(latent_dim=4, num_scales=1, base_channels=4, fc_dim=8),
                     decoder=vg.Decoder((8, 8, 1), num_scales=1, base_channels=4),
                     prior=vg.StandardPrior())
  with pytest.raises(inputs.ModelInputError, match='VAEGlow takes float32 images; got uint8'):
    vg.init(model, KEY, jnp.zeros((2, 8, 8, 1), jnp.uint8))


def test_dequantize_refuses_float_images_and_takes_any_integer_dtype():
  with pytest.raises(losses.LossInputError, match=r'take integer pixel codes in \[0, 255\] '
                                                  r'\(uint8\); got float32'):
    losses.dequantize(jnp.full((1, 2, 2, 1), 0.5), None, 8)
  codes = np.array([[0, 7, 8, 255]])
  for dtype in (np.uint8, np.int32, np.int64):
    np.testing.assert_allclose(losses.dequantize(codes.astype(dtype), None, 8), (codes + 0.5) / 256)


def test_a_loss_under_vmap_per_example_matches_the_batch_given_a_batch_axis_of_one():
  x = jax.random.normal(KEY, (5, 4, 4, 2))
  mean, log_std = 0.1 * x + 0.2, jnp.full_like(x, -0.5)
  batched = losses.gaussian_log_prob(x, mean, log_std)
  per_example = jax.vmap(lambda xi, mi, si: losses.gaussian_log_prob(xi[None], mi[None], si[None])[0])
  np.testing.assert_allclose(per_example(x, mean, log_std), batched, rtol=1e-6)
  assert batched.shape == (5,)
