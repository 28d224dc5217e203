"""The matmul formulations of vaeglow_jax.conv against XLA's convolution."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import randomize
from vaeglow_jax.layers import conv
from vaeglow_jax.flows import StepOptions
from vaeglow_jax.models.glow import GlowLayer, MultiScaleGlow

CASES = [  # (impl, kernel (kh, kw, Cin, Cout))
    ('patches', (3, 3, 1, 16)), ('patches', (3, 3, 3, 8)), ('patches', (5, 3, 2, 4)),
    ('taps', (3, 3, 16, 2)), ('taps', (3, 3, 5, 7)), ('taps', (3, 5, 4, 3)),
    ('matmul', (1, 1, 6, 10)), ('xla', (3, 3, 4, 4)),
]


def _inputs(kernel_shape, seed=0):
  kx, kk = jax.random.split(jax.random.PRNGKey(seed))
  x = jax.random.normal(kx, (2, 6, 5, kernel_shape[2]))
  kernel = jax.random.normal(kk, kernel_shape)
  return x, kernel


@pytest.mark.parametrize('impl,kernel_shape', CASES)
def test_conv_and_its_gradients_equal_xla_convolution(impl, kernel_shape):
  x, kernel = _inputs(kernel_shape)
  # A non-quadratic loss so that dy varies with the output and position.
  loss = lambda fn: lambda a, k: jnp.sum(jnp.sin(fn(a, k)) * jnp.arange(k.shape[-1]))
  want = conv.conv_xla(x, kernel)
  got = jax.jit(lambda a, k: conv.conv2d_same(a, k, impl))(x, kernel)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
  want_grads = jax.grad(loss(conv.conv_xla), argnums=(0, 1))(x, kernel)
  got_grads = jax.jit(jax.grad(loss(lambda a, k: conv.conv2d_same(a, k, impl)), argnums=(0, 1)))(
      x, kernel)
  for got_g, want_g in zip(got_grads, want_grads):
    np.testing.assert_allclose(got_g, want_g, rtol=1e-4, atol=1e-4)


def test_auto_chooses_by_thinness_on_cpu_and_xla_elsewhere():
  assert conv.choose_impl((1, 1, 512, 512), 'cpu') == 'matmul'
  assert conv.choose_impl((3, 3, 1, 512), 'cpu') == 'patches'
  assert conv.choose_impl((3, 3, 512, 2), 'cpu') == 'taps'
  assert conv.choose_impl((3, 3, 64, 64), 'cpu') == 'xla'
  assert conv.choose_impl((3, 3, 1, 512), 'gpu') == 'xla'
  assert conv.choose_impl((1, 1, 512, 512), 'tpu') == 'xla'


def test_conv_module_has_nn_conv_parameters_and_outputs():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 5, 3))

  class Ours(nn.Module):
    @nn.compact
    def __call__(self, a):
      return conv.Conv(4, (3, 3))(conv.Conv(8, (1, 1))(a))

  class Flax(nn.Module):
    @nn.compact
    def __call__(self, a):
      return nn.Conv(4, (3, 3), padding='SAME')(nn.Conv(8, (1, 1), padding='SAME')(a))

  ours = Ours().init(jax.random.PRNGKey(1), x)
  theirs = Flax().init(jax.random.PRNGKey(1), x)
  # Same names, shapes and initial values: checkpoints are interchangeable.
  jax.tree.map(np.testing.assert_array_equal, ours, theirs)
  np.testing.assert_allclose(Ours().apply(theirs, x), Flax().apply(theirs, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('shape', [(2, 3, 4, 5, 6), (1, 1, 1, 1, 1), (3, 4, 2, 3, 2)])
def test_subpixel_transposed_conv_and_its_gradients_equal_xla(shape):
  batch, height, width, cin, cout = shape
  kx, kk = jax.random.split(jax.random.PRNGKey(3))
  x = jax.random.normal(kx, (batch, height, width, cin))
  kernel = jax.random.normal(kk, (3, 3, cin, cout))
  got = jax.jit(conv.conv_transpose_subpixel)(x, kernel)
  assert got.shape == (batch, 2 * height, 2 * width, cout)
  np.testing.assert_allclose(got, conv.conv_transpose_xla(x, kernel), rtol=1e-5, atol=1e-5)
  # A non-quadratic loss weighted by position, so that every output phase's gradient counts.
  weights = jnp.arange(4 * height * width * cout, dtype=jnp.float32).reshape(got.shape[1:]) / 100
  loss = lambda fn: lambda a, k: jnp.sum(jnp.sin(fn(a, k)) * weights)
  want_grads = jax.grad(loss(conv.conv_transpose_xla), argnums=(0, 1))(x, kernel)
  got_grads = jax.jit(jax.grad(loss(conv.conv_transpose_subpixel), argnums=(0, 1)))(x, kernel)
  for got_g, want_g in zip(got_grads, want_grads):
    np.testing.assert_allclose(got_g, want_g, rtol=1e-4, atol=1e-4)


def test_transposed_conv_module_has_nn_conv_transpose_parameters_and_outputs():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 4, 5))
  ours = conv.ConvTranspose(6, impl='subpixel')
  theirs = nn.ConvTranspose(6, (3, 3), strides=(2, 2), padding='SAME')
  params = theirs.init(jax.random.PRNGKey(1), x)
  params = randomize(params, seed=2)  # a nonzero bias too
  jax.tree.map(np.testing.assert_array_equal, ours.init(jax.random.PRNGKey(1), x),
               theirs.init(jax.random.PRNGKey(1), x))
  np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x), rtol=1e-5, atol=1e-5)
  # 'xla' is bit for bit what runs trained before model.conv_impl existed computed
  # (history.LEGACY_VALUES rebuilds them with it).
  np.testing.assert_array_equal(conv.ConvTranspose(6, impl='xla').apply(params, x),
                                theirs.apply(params, x))
  assert conv.ConvTranspose(6, impl='auto').apply(params, x).shape == (2, 6, 8, 6)
  with pytest.raises(ValueError, match='transposed conv impl must be one of'):
    conv.ConvTranspose(6, impl='taps').apply(params, x)
  with pytest.raises(ValueError, match='needs a 3x3 kernel'):
    conv.conv_transpose_subpixel(x, jnp.zeros((2, 2, 5, 6)))


@pytest.mark.parametrize('impl,kernel_shape,message', [
    ('fast', (3, 3, 2, 2), 'conv impl must be one of'),
    ('auto', (2, 2, 2, 2), 'odd kernel sizes'),
    ('matmul', (3, 3, 2, 2), 'needs a 1x1 kernel'),
])
def test_bad_conv_options_are_rejected(impl, kernel_shape, message):
  x, kernel = _inputs(kernel_shape)
  with pytest.raises(ValueError, match=message):
    conv.conv2d_same(x, kernel, impl)


@pytest.mark.parametrize('make', [
    lambda impl: GlowLayer(depth=2, identity_init=False,
                           step=StepOptions(hidden=16, coupling='affine', conv_impl=impl)),
    lambda impl: MultiScaleGlow(levels=2, depth=2,
                                step=StepOptions(hidden=16, coupling='affine', conv_impl=impl)),
])
def test_flows_compute_the_same_with_every_conv_impl(make):
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 8, 8, 2)) - 0.5
  # Zero-initialised output convs make couplings the identity: perturb every parameter.
  # Jitted: op-by-op (eager) Flax flows cost a minute per call on 2 CPU cores.
  variables = randomize(jax.jit(make('xla').init)(jax.random.PRNGKey(1), x), scale=0.05)

  def loss(model):
    return lambda v: jnp.sum(jnp.sin(model.apply(v, x)[0])) + jnp.sum(model.apply(v, x)[1])

  want, want_grad = jax.jit(jax.value_and_grad(loss(make('xla'))))(variables)
  got, got_grad = jax.jit(jax.value_and_grad(loss(make('auto'))))(variables)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4),
               got_grad['params'], want_grad['params'])


@pytest.mark.parametrize('impl,kernel_shape', CASES)
def test_forward_mode_and_second_order_equal_xla_convolution(impl, kernel_shape):
  # A library default must not narrow what autodiff can do: jvp, and a Hessian-vector
  # product (forward over reverse), as XLA's convolution gives them.
  x, kernel = _inputs(kernel_shape)
  dx, dk = _inputs(kernel_shape, seed=1)
  loss = lambda f: lambda a, k: jnp.sum(jnp.sin(f(a, k)))
  ours = lambda a, k: conv.conv2d_same(a, k, impl)
  for f, rtol in ((conv.conv_xla, None), (ours, 1e-4)):
    out, tangent = jax.jit(lambda a, k, f=f: jax.jvp(f, (a, k), (dx, dk)))(x, kernel)
    hvp = jax.jit(lambda a, k, f=f: jax.jvp(jax.grad(loss(f), (0, 1)), (a, k), (dx, dk))[1])(
        x, kernel)
    if rtol is None:
      want = (out, tangent, hvp)
  got = (out, tangent, hvp)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3), got, want)


def test_glow_layer_hessian_with_the_default_conv_impl_equals_xla():
  # The default ('auto': matmul formulations on CPU) under jax.hessian of a log-density in x.
  x = jax.random.uniform(jax.random.PRNGKey(0), (1, 4, 4, 2)) - 0.5
  make = lambda impl: GlowLayer(depth=2, identity_init=False,
                                step=StepOptions(hidden=8, coupling='affine', conv_impl=impl))
  assert make('auto').step.conv_impl == StepOptions().conv_impl == 'auto'
  variables = randomize(jax.jit(make('xla').init)(jax.random.PRNGKey(1), x), scale=0.05)

  def log_density(model):
    def f(image):
      z, log_det = model.apply(variables, image)
      return jnp.sum(-0.5 * z ** 2) + jnp.sum(log_det)
    return f

  want = jax.jit(jax.hessian(log_density(make('xla'))))(x)
  got = jax.jit(jax.hessian(log_density(make('auto'))))(x)
  assert got.shape == (1, 4, 4, 2) * 2
  assert np.abs(want).max() > 1e-3  # the test would see a wrong Hessian
  np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)
