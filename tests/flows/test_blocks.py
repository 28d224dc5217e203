"""Flow blocks: invertibility, log-determinants against jax.jacrev, init behaviour."""

import flax.linen as nn
import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import check_flow, randomize
from vaeglow_jax.flows import (ActNorm, Coupling, FlowStep, FlowSteps, InvConv1x1, Squeeze,
                               StepOptions, squeeze2d, unsqueeze2d)

KEY = jax.random.PRNGKey(0)


def _step(coupling='additive', mask='channel'):
  return StepOptions(hidden=8, coupling=coupling, mask=mask)


def _images(shape=(3, 4, 4, 4), seed=0, scale=2.0, shift=0.5):
  return scale * jax.random.normal(jax.random.PRNGKey(seed), shape) + shift



BLOCKS = {
    'actnorm': lambda: ActNorm(),
    'invconv_lu': lambda: InvConv1x1(lu=True),
    'invconv_plain': lambda: InvConv1x1(lu=False),
    'coupling_additive': lambda: Coupling(options=_step('additive')),
    'coupling_affine': lambda: Coupling(options=_step('affine')),
    'coupling_additive_checkerboard': lambda: Coupling(options=_step('additive', 'checkerboard')),
    'coupling_affine_checkerboard': lambda: Coupling(options=_step('affine', 'checkerboard')),
    'squeeze': lambda: Squeeze(),
    'flow_step_affine': lambda: FlowStep(options=_step('affine')),
    'flow_steps_3_additive': lambda: FlowSteps(depth=3, options=_step('additive')),
    'flow_steps_3_affine_remat': lambda: FlowSteps(depth=3, options=_step('affine'), remat=True),
}


@pytest.mark.parametrize('name', sorted(BLOCKS))
def test_block_inverts_and_logdet_matches_jacrev(name):
  module = BLOCKS[name]()
  x = _images()
  variables = jax.jit(module.init)(KEY, x)
  if variables.get('params'):
    variables = randomize(variables)
  inv_err, rel_logdet_err, sym_err = check_flow(module, variables, x, logdet_examples=2)
  assert inv_err < 1e-4, inv_err
  assert rel_logdet_err < 1e-4, rel_logdet_err
  assert sym_err < 1e-3, sym_err


def test_actnorm_data_dependent_init_normalises_and_is_not_redone():
  x = _images((16, 4, 4, 3), scale=3.0, shift=-2.0)
  module = ActNorm()
  variables = jax.jit(module.init)(KEY, x)
  y, _ = module.apply(variables, x)
  np.testing.assert_allclose(jnp.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(jnp.std(y, axis=(0, 1, 2)), 1.0, atol=1e-4)
  # Applying (and re-applying with mutable params) on other data leaves params unchanged.
  other = _images((16, 4, 4, 3), seed=5, scale=0.1)
  _, mutated = module.apply(variables, other, mutable=['params'])
  for a, b in zip(jax.tree_util.tree_leaves(variables), jax.tree_util.tree_leaves(mutated)):
    np.testing.assert_array_equal(a, b)


def test_actnorm_init_inside_scanned_stack_sees_each_steps_input():
  # Every step's ActNorm must normalise the data reaching that step (not the raw input).
  x = _images((32, 4, 4, 4), scale=3.0, shift=1.0)
  module = FlowSteps(depth=3, options=_step('affine'))
  variables = jax.jit(module.init)(KEY, x)
  bias = variables['params']['steps']['step']['actnorm']['bias']
  assert bias.shape == (3, 4)
  np.testing.assert_allclose(bias[0], -jnp.mean(x, axis=(0, 1, 2)), atol=1e-5)
  # Steps 1..2 see normalised-and-rotated data with ~zero mean: their bias is small.
  assert float(jnp.max(jnp.abs(bias[1:]))) < 0.2


def test_lu_invconv_logdet_equals_hw_log_abs_det_w():
  x = _images((2, 3, 5, 6))
  module = InvConv1x1(lu=True)
  variables = randomize(jax.jit(module.init)(KEY, x))
  p = variables['params']
  c = variables['constants']
  lower = jnp.tril(p['lower'], -1) + jnp.eye(6)
  upper = jnp.triu(p['upper'], 1) + jnp.diag(c['sign'] * jnp.exp(p['log_s']))
  w = c['permutation'] @ lower @ upper
  _, logdet = module.apply(variables, x)
  expected = 3 * 5 * jnp.linalg.slogdet(w)[1]
  np.testing.assert_allclose(logdet, expected, rtol=1e-5)
  # The map is a channel matmul with that W.
  y, _ = module.apply(variables, x)
  np.testing.assert_allclose(y, jnp.einsum('bhwc,dc->bhwd', x, w), atol=1e-5)


def test_lu_invconv_constants_are_saved_not_params():
  variables = InvConv1x1(lu=True).init(KEY, _images())
  assert set(variables['constants']) == {'permutation', 'sign'}
  assert 'permutation' not in variables['params']
  perm = np.asarray(variables['constants']['permutation'])
  np.testing.assert_array_equal(perm.sum(0), 1)
  np.testing.assert_array_equal(perm.sum(1), 1)


def test_invconv_starts_as_rotation():
  x = _images()
  for lu in (True, False):
    variables = InvConv1x1(lu=lu).init(KEY, x)
    _, logdet = InvConv1x1(lu=lu).apply(variables, x)
    np.testing.assert_allclose(logdet, 0.0, atol=1e-4)


@pytest.mark.parametrize('kind', ['additive', 'affine'])
@pytest.mark.parametrize('mask', ['channel', 'checkerboard'])
def test_coupling_is_identity_at_init(kind, mask):
  # The net's last layer starts at zero, so the shift is 0 and Glow's scale is sigmoid(0 + 2).
  # A channel coupling scales half of the dimensions by it (affine) or by 1 (additive); a
  # checkerboard coupling is two masked half-couplings, so it scales every dimension once.
  # log|det| counts log sigmoid(2) once per scaled dimension.
  x = _images()
  module = Coupling(options=_step(kind, mask))
  variables = jax.jit(module.init)(KEY, x)
  y, logdet = module.apply(variables, x)
  scale = float(jax.nn.sigmoid(2.0)) if kind == 'affine' else 1.0
  ratio = np.asarray(y / x).reshape(x.shape[0], -1)
  scaled = np.isclose(ratio, scale, rtol=1e-5)
  assert np.all(scaled | np.isclose(ratio, 1.0, rtol=1e-6)), 'a dimension moved other than by the scale'
  num_scaled = x[0].size if mask == 'checkerboard' else x[0].size // 2
  if kind == 'affine':
    np.testing.assert_array_equal(scaled.sum(axis=1), num_scaled)
  np.testing.assert_allclose(logdet, num_scaled * np.log(scale), rtol=1e-5, atol=1e-6)


def test_additive_coupling_identity_exactly_and_affine_shift_is_zero():
  x = _images()
  module = Coupling(options=_step('affine'))
  variables = jax.jit(module.init)(KEY, x)
  y, _ = module.apply(variables, x)
  c_a = x.shape[-1] // 2
  np.testing.assert_array_equal(y[..., :c_a], x[..., :c_a])
  np.testing.assert_allclose(y[..., c_a:], x[..., c_a:] * jax.nn.sigmoid(2.0), rtol=1e-6)


def test_channel_coupling_rejects_one_channel_with_a_hint():
  with pytest.raises(ValueError, match='squeeze'):
    Coupling(options=_step()).init(KEY, _images((2, 4, 4, 1)))


def test_squeeze_roundtrip_and_layout():
  x = jnp.arange(2 * 4 * 6 * 3, dtype=jnp.float32).reshape(2, 4, 6, 3)
  y = squeeze2d(x)
  assert y.shape == (2, 2, 3, 12)
  # Channels of output pixel (0, 0) are the 2x2 patch x[0:2, 0:2] in row-major order.
  np.testing.assert_array_equal(y[0, 0, 0].reshape(2, 2, 3), x[0, 0:2, 0:2])
  np.testing.assert_array_equal(unsqueeze2d(y), x)
  with pytest.raises(ValueError, match='divisible'):
    squeeze2d(jnp.zeros((1, 3, 4, 1)))


def test_blocks_jit_and_grad():
  x = _images()
  module = FlowSteps(depth=2, options=_step('affine'))
  variables = jax.jit(module.init)(KEY, x)

  def loss(params):
    y, logdet = module.apply({**variables, 'params': params}, x)
    return jnp.mean(jnp.sum(y ** 2, axis=(1, 2, 3)) - logdet)

  grads = jax.jit(jax.grad(loss))(variables['params'])
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))
  assert float(sum(jnp.sum(jnp.abs(g)) for g in jax.tree_util.tree_leaves(grads))) > 0


def test_flow_steps_unrolled_and_rolled_share_parameters_and_outputs():
  """`unroll` changes only how the loop is compiled: same parameter tree, same numbers."""
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 4))
  rolled = FlowSteps(depth=3, options=_step('affine'), unroll=1)
  unrolled = FlowSteps(depth=3, options=_step('affine'))
  variables = rolled.init(jax.random.PRNGKey(1), x)
  assert (jax.tree.structure(variables)
          == jax.tree.structure(unrolled.init(jax.random.PRNGKey(1), x)))
  y1, ld1 = rolled.apply(variables, x)
  y2, ld2 = unrolled.apply(variables, x)
  np.testing.assert_allclose(y1, y2, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(ld1, ld2, rtol=1e-6)
  g1 = jax.grad(lambda v: jnp.sum(rolled.apply(v, x)[0] ** 2))(variables)
  g2 = jax.grad(lambda v: jnp.sum(unrolled.apply(v, x)[0] ** 2))(variables)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), g1, g2)


def test_step_options_are_one_frozen_keyword_only_object_that_names_a_bad_value():
  assert StepOptions() == StepOptions(hidden=512, coupling='additive', mask='channel', lu=True,
                                      conv_impl='auto', net_dtype='float32',
                                      layers=('actnorm', 'invconv', 'coupling'))
  with pytest.raises(TypeError):
    StepOptions(8)  # keyword-only: a positional width would be ambiguous
  with pytest.raises(ValueError, match=r"coupling must be one of \('additive', 'affine'\), got 'ad'"):
    StepOptions(coupling='ad')
  with pytest.raises(ValueError, match="net_dtype must be one of"):
    StepOptions(net_dtype='float16')
  with pytest.raises(ValueError, match="conv_impl must be one of .*, got 'fast'; net_dtype must be"):
    StepOptions(conv_impl='fast', net_dtype='float16')  # every bad field, in one line
  with pytest.raises(TypeError):
    FlowStep(_step())  # flow modules take keyword arguments only
  # Options are hashable (Flax module fields), and every level sees the same object.
  options = _step('affine')
  module = FlowSteps(depth=2, options=options)
  params = module.init(KEY, _images())['params']
  net = params['steps']['step']['coupling']['net']
  assert net['Conv_0']['kernel'].shape[-1] == 8 and hash(options) == hash(_step('affine'))



def _scan_unrolls(fn, *args):
  """The `unroll` of every scan in fn's jaxpr (nested ones included)."""
  found = []

  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == 'scan':
        found.append(eqn.params['unroll'])
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        walk(sub)
  walk(jax.make_jaxpr(fn)(*args).jaxpr)
  return found


@pytest.mark.parametrize('backend,want', [('cpu', 3), ('gpu', 1), ('tpu', 1)])
def test_the_default_unroll_follows_the_backend(monkeypatch, backend, want):
  from vaeglow_jax.flows import default_unroll
  from vaeglow_jax.models.prior import FlowPrior
  assert default_unroll(3, remat=False, backend=backend) == want
  assert default_unroll(3, remat=True, backend=backend) == 1
  x, z = _images((2, 4, 4, 4)), jax.random.normal(KEY, (2, 4))
  flow = FlowSteps(depth=3, options=_step())
  prior = FlowPrior(num_layers=3, hidden=8)
  flow_variables, prior_variables = flow.init(KEY, x), prior.init(KEY, z)
  monkeypatch.setattr(jax, 'default_backend', lambda: backend)  # what the modules ask at trace time
  assert _scan_unrolls(lambda v: flow.apply(v, x), flow_variables) == [want]
  assert _scan_unrolls(lambda v: prior.apply(v, z), prior_variables) == [want]
  # An explicit unroll wins on every backend.
  assert _scan_unrolls(lambda v: FlowSteps(depth=3, options=_step(), unroll=2).apply(v, x),
                       flow_variables) == [2]


class _ChannelReverse(nn.Module):
  """A flow layer the library does not have: reverses the channels (log-det 0)."""

  @nn.compact
  def __call__(self, x, reverse=False):
    return x[..., ::-1], jnp.zeros((x.shape[0],), x.dtype)


def test_a_flow_layer_is_one_module_and_a_name_in_the_steps_list(monkeypatch):
  """The worked example: a new layer is its module plus one registry entry; a step
  then lists it by name (model.glow.layers in the config), and the flow checks hold."""
  from vaeglow_jax.flows import registry
  default = FlowStep(options=_step()).init(KEY, _images())
  # The default list keeps the parameter keys every trained checkpoint has.
  assert set(default['params']) == {'actnorm', 'invconv', 'coupling'}
  monkeypatch.setitem(registry.LAYERS, 'channel_reverse',
                      lambda options, identity_init, name: _ChannelReverse(name=name))
  options = StepOptions(hidden=8, layers=('actnorm', 'channel_reverse', 'invconv', 'coupling',
                                          'actnorm'))
  step = FlowStep(options=options)
  x = _images()
  variables = randomize(step.init(KEY, x))
  assert set(variables['params']) == {'actnorm', 'invconv', 'coupling', 'actnorm_2'}
  inverse, logdet_rel, reverse_abs = check_flow(step, variables, x, logdet_examples=2)
  assert inverse < 1e-4 and logdet_rel < 1e-5 and reverse_abs < 1e-4
  # The layer is really applied: without it (same parameters) the map differs.
  plain = FlowStep(options=StepOptions(hidden=8, layers=('actnorm', 'invconv', 'coupling',
                                                         'actnorm')))
  assert not np.allclose(step.apply(variables, x)[0], plain.apply(variables, x)[0], atol=1e-3)
  with pytest.raises(ValueError, match="layers: unknown 'shuffle'; choose from actnorm, invconv, "
                                       "coupling, channel_reverse"):
    FlowStep(options=StepOptions(layers=('shuffle',))).init(KEY, x)
