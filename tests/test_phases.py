"""phases.Phase: the production sampling path (sample_noise -> decode_parts),
checked against the model's parts applied one by one, and what each phase trains."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.configs import tiny
from tests.helpers import randomize
from vaeglow_jax import phases
from vaeglow_jax.models.model import VAEGlow
from vaeglow_jax.models.vae import raw_for_log_std

SHAPE = (8, 8, 1)


def _bare_phase(name):
  config = tiny.get_config()
  config.phase = name
  return phases.build(config, SHAPE)


@functools.lru_cache(maxsize=None)
def _phase(name):
  """(Phase, variables) with every parameter perturbed: zero-initialised last layers would
  make the Glow layer the identity. Jitted: eager Flax init of a flow costs a minute."""
  phase = _bare_phase(name)
  x = jax.random.uniform(jax.random.PRNGKey(0), (4,) + SHAPE)
  variables = jax.jit(phase.init)(jax.random.PRNGKey(1), x)
  return phase, randomize(variables, seed=3, scale=0.05)


def _by_parts(phase, variables, noise_z, noise_x, temperature):
  """x_tilde = g_mu(z) + T g_sigma(z) eps, z = prior^-1(noise_z), x = f^-1(x_tilde), unclipped."""
  vae = phase.vae
  z = vae.apply(variables, noise_z, method=lambda m, n: m.prior.sample(n))
  mean, log_std = vae.apply(variables, z, method=VAEGlow.decode)
  x_tilde = mean + temperature * jnp.exp(log_std) * noise_x
  x, _ = vae.apply(variables, x_tilde, True, method=VAEGlow.glow_forward)
  return mean, x_tilde, x


def test_sample_noise_shapes_and_independent_draws():
  phase = _bare_phase('glow')
  noise_z, noise_x, noise_e = phase.sample_noise(jax.random.PRNGKey(0), 5)
  assert noise_z.shape == (5, 4) and noise_x.shape == (5,) + SHAPE and noise_e.shape == (5, 4)
  assert not np.allclose(noise_z, noise_e)
  again = phase.sample_noise(jax.random.PRNGKey(0), 5)
  for a, b in zip((noise_z, noise_x, noise_e), again):
    np.testing.assert_array_equal(a, b)


def test_glow_phase_sample_is_the_inverse_glow_layer_of_the_tempered_decoder_sample():
  phase, variables = _phase('glow')
  noise = phase.sample_noise(jax.random.PRNGKey(2), 6)
  # Temperatures traced, not static: one compilation serves both.
  decode_parts = jax.jit(phase.decode_parts)
  by_parts = jax.jit(functools.partial(_by_parts, phase))
  for temperature in (0.0, 0.7):
    parts = decode_parts(variables, *noise, jnp.float32(temperature))
    mean, x_tilde, x = by_parts(variables, noise[0], noise[1], jnp.float32(temperature))
    np.testing.assert_allclose(parts['decoder_mean'], jnp.clip(mean, 0, 1), atol=1e-5)
    np.testing.assert_allclose(parts['x_tilde'], jnp.clip(x_tilde, 0, 1), atol=1e-5)
    np.testing.assert_allclose(parts['x'], jnp.clip(x, 0, 1), atol=1e-5)
    assert float(jnp.max(jnp.abs(x - x_tilde))) > 1e-3, 'the perturbed Glow layer should move pixels'
    if temperature == 0:
      np.testing.assert_allclose(parts['x_tilde'], parts['decoder_mean'], atol=1e-6)
    else:
      # sample() draws the same noise from the same key and decodes it the same way.
      sample = jax.jit(phase.sample, static_argnums=(2,))
      np.testing.assert_allclose(sample(variables, jax.random.PRNGKey(2), 6, jnp.float32(temperature)),
                                 parts['x'], atol=1e-5)


def test_vae_phase_sample_is_the_decoder_mean_at_any_temperature():
  phase, variables = _phase('vae')
  noise = phase.sample_noise(jax.random.PRNGKey(4), 6)
  parts = jax.jit(phase.decode_parts)(variables, *noise, 0.9)
  assert set(parts) == {'x'}
  z = phase.vae.apply(variables, noise[0], method=lambda m, n: m.prior.sample(n))
  mean, _ = phase.vae.apply(variables, z, method=VAEGlow.decode)
  np.testing.assert_allclose(parts['x'], jnp.clip(mean, 0, 1), atol=1e-5)
  np.testing.assert_allclose(jax.jit(phase.decode_parts)(variables, *noise, 0.1)['x'], parts['x'],
                             atol=1e-6)


def test_second_stage_samples_decode_the_second_stage_latent():
  phase, variables = _phase('second_stage')
  noise_z, noise_x, noise_e = phase.sample_noise(jax.random.PRNGKey(5), 6)
  decode = jax.jit(lambda *args: phase.decode_parts(*args)['x'], static_argnums=4)
  x = decode(variables, noise_z, noise_x, noise_e, 0.5)
  z = phase.second_stage.apply({'params': variables['params']['second_stage']}, noise_z, noise_e,
                               method=phase.second_stage.sample)
  vae_vars = {**variables, 'params': {k: v for k, v in variables['params'].items()
                                      if k != 'second_stage'}}
  mean, _ = phase.vae.apply(vae_vars, z, method=VAEGlow.decode)
  np.testing.assert_allclose(x, jnp.clip(mean, 0, 1), atol=1e-5)
  # Pixel noise plays no part: the second stage replaces the prior, not the decoder.
  np.testing.assert_array_equal(decode(variables, noise_z, 0 * noise_x, noise_e, 0.5), x)


def test_glow_baseline_sample_maps_back_to_the_tempered_latent():
  phase, variables = _phase('glow_baseline')
  noise_x = jax.random.normal(jax.random.PRNGKey(6), (4,) + SHAPE)
  base = {**variables, 'params': variables['params']['baseline']}
  x = jax.jit(lambda v, n: phase.baseline.apply(v, n, 0.3, method=phase.baseline.sample))(base, noise_x)
  decode = jax.jit(lambda v, n, t: phase.decode_parts(v, None, n, None, t)['x'])  # t traced: one compile
  np.testing.assert_allclose(decode(variables, noise_x, 0.3), jnp.clip(x, 0, 1), atol=1e-5)
  # Temperature 0 is the mode: the same image whatever the noise.
  a = decode(variables, noise_x, 0.0)
  b = decode(variables, 2 * noise_x + 1, 0.0)
  np.testing.assert_allclose(a, b, atol=1e-5)


def test_base_residuals_see_the_glow_layer_and_are_one_decoder_std_when_calibrated():
  phase, variables = _phase('glow')
  x = jax.random.uniform(jax.random.PRNGKey(7), (6,) + SHAPE)
  residuals = jax.jit(phase.base_residuals)
  r = residuals(variables, x, jax.random.PRNGKey(8))
  assert all(v.shape == (6,) for v in r.values())
  # x's residual is the VAE's alone (the same z); the perturbed Glow layer moves f(x) off it.
  vae_phase = _bare_phase('vae')
  r_vae = jax.jit(vae_phase.base_residuals)(variables, x, jax.random.PRNGKey(8))
  np.testing.assert_allclose(r['sq_x'], r_vae['sq_x'], rtol=1e-5)
  np.testing.assert_array_equal(r_vae['sq_f_x'], r_vae['sq_x'])
  assert np.all(np.abs(r['sq_f_x'] - r['sq_x']) > 1e-4 * r['sq_x'])
  # At init the Glow layer is the identity: it removes nothing.
  fresh = jax.jit(phase.init)(jax.random.PRNGKey(1), x)
  r0 = residuals(fresh, x, jax.random.PRNGKey(8))
  np.testing.assert_allclose(r0['sq_f_x'], r0['sq_x'], rtol=1e-6)
  # A scalar decoder variance at its closed-form optimum, gamma^2 = mean squared residual,
  # makes the residual one decoder std on average: the normalisation uses the decoder's sigma.
  config = tiny.get_config()
  config.phase, config.model.variance = 'vae', 'gamma'
  gamma_phase = phases.build(config, SHAPE)
  gamma_vars = jax.jit(gamma_phase.init)(jax.random.PRNGKey(1), x)
  g = jax.jit(gamma_phase.base_residuals)
  mse = float(jnp.mean(g(gamma_vars, x, jax.random.PRNGKey(8))['sq_x']))
  params = {**gamma_vars['params'], 'decoder': {
      **gamma_vars['params']['decoder'],
      'log_gamma': raw_for_log_std(jnp.float32(0.5 * np.log(mse)), config.model.min_log_std)}}
  calibrated = g({**gamma_vars, 'params': params}, x, jax.random.PRNGKey(8))
  assert float(jnp.mean(calibrated['normalised_sq_x'])) == pytest.approx(1.0, rel=1e-3)


def test_the_glow_layers_gain_splits_into_its_gaussian_and_log_determinant_parts():
  """base_residuals' two parts add up to the Glow layer's change of the ELBO's log p(x|z) (the
  model's own terms, with and without the layer, for the same z)."""
  import math
  phase, variables = _phase('glow')
  x = jax.random.uniform(jax.random.PRNGKey(7), (6,) + SHAPE)
  r = jax.jit(phase.base_residuals)(variables, x, jax.random.PRNGKey(8))
  mean, _ = phase.vae.apply(variables, x, method=VAEGlow.encode)
  noise = jax.random.normal(jax.random.PRNGKey(8), mean.shape)  # base_residuals' z
  terms = {use: phase.vae.apply(variables, x, use, noise) for use in (True, False)}
  gain = (terms[True]['log_likelihood'] - terms[False]['log_likelihood']) / (64 * math.log(2))
  gaussian = 0.5 * (r['normalised_sq_x'] - r['normalised_sq_f_x']) / math.log(2)
  logdet = r['logdet_per_dim'] / math.log(2)
  np.testing.assert_allclose(gaussian + logdet, gain, rtol=1e-4, atol=1e-6)
  assert np.all(np.abs(logdet) > 1e-4)  # the perturbed layer has a log-determinant


@pytest.mark.parametrize('name', phases.PHASES)
def test_each_phase_trains_what_its_spec_says(name):
  phase = _bare_phase(name)
  x = jnp.zeros((2,) + SHAPE)
  variables = jax.eval_shape(phase.init, jax.random.PRNGKey(0), x)  # shapes only: nothing runs
  spec = phases.get_spec(name)
  assert set(spec.trainable) <= set(variables['params'])
  assert not set(spec.trainable) & set(spec.from_stage1), 'a phase trains what it froze'
  assert ('glow' in variables['params']) == spec.use_glow


# The config schema names the default phase. (The factorial study, whose chains are phase names,
# lives in experiments/, outside the library.)
_PHASE_NAMES_ALLOWED_IN = {'phases.py', 'schema.py'}


def _phase_name_literals(source: str) -> list[tuple[int, str]]:
  """(line, name) of string constants equal to a phase name that are not a subscript or .get()
  key (config groups and parameter keys share names with phases: config.model['glow']), a
  docstring, or an entry of __all__ (module names)."""
  import ast
  tree = ast.parse(source)
  allowed = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
      allowed.add(id(node.slice))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == 'get' and node.args and isinstance(node.args[0], ast.Constant)):
      allowed.add(id(node.args[0]))
    body = getattr(node, 'body', None)
    if (isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and body
        and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
      allowed.add(id(body[0].value))
    if isinstance(node, ast.Assign) and any(getattr(t, 'id', '') == '__all__' for t in node.targets):
      allowed.update(id(c) for c in ast.walk(node.value))
  return sorted((node.lineno, node.value) for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and node.value in phases.SPECS
                and id(node) not in allowed)


def test_no_phase_name_is_used_outside_the_phase_table():
  import pathlib
  library = pathlib.Path(phases.__file__).parent
  found = [f'{path.relative_to(library)}:{line}: {name!r}'
           for path in sorted(library.rglob('*.py')) if path.name not in _PHASE_NAMES_ALLOWED_IN
           for line, name in _phase_name_literals(path.read_text())]
  assert not found, 'phase names outside vaeglow_jax/phases.py:\n' + '\n'.join(found)


def test_the_phase_name_check_sees_a_switch_on_a_phase():
  source = 'def f(config):\n  """For the \'glow\' phase."""\n  if config.phase == "glow_baseline":\n' \
           '    return config.model["glow"], config.get("prior")\n  return read(d, "vae")\n'
  assert _phase_name_literals(source) == [(3, 'glow_baseline'), (5, 'vae')]
