"""Chains: a VAE phase sampled from another phase's latent prior (eval.prior_phase)."""

import json
import os

import jax
import numpy as np
import pytest

from tests.configs import tiny
from vaeglow_jax.config import history
from vaeglow_jax import phases
from vaeglow_jax.evaluation import evaluator as evaluation
from vaeglow_jax.evaluation import loading
from vaeglow_jax.training import trainer


def _config(phase, **overrides):
  c = tiny.get_config()
  c.phase = phase
  c.num_devices = 1
  c.update_from_flattened_dict(overrides)
  return c


def test_glow_layer_gradient_does_not_involve_the_prior():
  """One Glow layer per VAE serves every prior: its gradient is the same whatever the prior's
  parameters are (so the chain glow+prior needs no retraining of the layer)."""
  config = _config('glow')
  phase = phases.build(config, (8, 8, 1))
  x = jax.random.uniform(jax.random.PRNGKey(0), (4, 8, 8, 1))
  variables = jax.jit(phase.init)(jax.random.PRNGKey(1), x)
  leaves, tree = jax.tree_util.tree_flatten(variables['params']['prior'])
  keys = jax.random.split(jax.random.PRNGKey(5), len(leaves))
  other_prior = jax.tree_util.tree_unflatten(
      tree, [p + jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])

  @jax.jit  # one program, not every op compiled on its own
  def grad_glow(prior):
    def loss(glow):
      v = {**variables, 'params': {**variables['params'], 'glow': glow, 'prior': prior}}
      return phase.per_example(v, x, jax.random.PRNGKey(2))['objective'].mean()
    return jax.grad(loss)(variables['params']['glow'])

  @jax.jit
  def grad_prior_sensitive(prior):  # control: the objective itself does depend on the prior
    v = {**variables, 'params': {**variables['params'], 'prior': prior}}
    return phase.per_example(v, x, jax.random.PRNGKey(2))['objective'].mean()

  assert abs(float(grad_prior_sensitive(other_prior)
                   - grad_prior_sensitive(variables['params']['prior']))) > 1e-3
  a, b = grad_glow(variables['params']['prior']), grad_glow(other_prior)
  norm = sum(float(np.abs(g).sum()) for g in jax.tree_util.tree_leaves(a))
  assert norm > 0
  for ga, gb in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_allclose(ga, gb, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope='module')
def chain_workdir(tmp_path_factory, tiny_run):
  """vae (gamma, N(0, I) prior) -> a post-hoc flow prior and a Glow layer, all on one phase 1;
  conftest's tiny feature extractor (the same data). -> (workdir, feature extractor dir)."""
  workdir = str(tmp_path_factory.mktemp('chains') / 'run')
  vae = {'model.variance': 'gamma', 'model.prior.kind': 'standard'}
  trainer.train_and_evaluate(_config('vae', **vae), workdir)
  trainer.train_and_evaluate(_config('prior', **{'model.variance': 'gamma'}), workdir)
  trainer.train_and_evaluate(_config('glow', **vae), workdir)
  return workdir, tiny_run[1]


def _evaluate(workdir, phase, prior_phase='', **overrides):
  config = history.trained_config(workdir, phase, _config(phase))
  config.eval.prior_phase = prior_phase
  config.eval.temperatures = (0.5,)
  config.update_from_flattened_dict(overrides)
  return evaluation.evaluate(config, workdir, log=lambda *_: None)


def _samples(workdir, name, t='0.5'):
  with np.load(os.path.join(workdir, 'eval', name, f'samples_T{t}.npz')) as f:
    return {k: f[k] for k in f.files}


@pytest.mark.slow
def test_chains_compose_trained_priors_with_the_decoder_and_glow_layer(chain_workdir):
  workdir, fe_dir = chain_workdir
  prior_alone = _evaluate(workdir, 'prior')
  # The VAE with the prior phase's prior is the prior phase: the same bound and samples.
  vae_with_prior = _evaluate(workdir, 'vae', 'prior')
  assert vae_with_prior['prior_phase'] == 'prior'
  np.testing.assert_allclose(vae_with_prior['test_bpd_iw'], prior_alone['test_bpd_iw'], rtol=1e-6)
  np.testing.assert_array_equal(_samples(workdir, 'vae+prior')['x'], _samples(workdir, 'prior')['x'])
  # The Glow layer with the post-hoc prior: its decoder means are the prior phase's samples
  # (same noise), and its bound differs from the Glow layer's own N(0, I) chain.
  glow_alone = _evaluate(workdir, 'glow')
  glow_with_prior = _evaluate(workdir, 'glow', 'prior', **{'eval.feature_extractor_dir': fe_dir,
                                                           'eval.temperatures': (0.0, 0.5)})
  assert set(glow_with_prior['fid_fashion_mnist_by_temperature']) == {'0', '0.5'}
  chain = _samples(workdir, 'glow+prior')
  np.testing.assert_array_equal(chain['decoder_mean'], _samples(workdir, 'prior')['x'])
  assert not np.array_equal(chain['decoder_mean'], _samples(workdir, 'glow')['decoder_mean'])
  assert not np.array_equal(chain['x'], chain['x_tilde'])  # the layer is applied
  assert glow_with_prior['test_bpd_iw'] != glow_alone['test_bpd_iw']
  # The Glow layer's gain over its VAE is its log-det and residual, whatever the prior: the
  # bound moves by the same amount under both priors (to within the IW estimator's noise).
  vae_alone = _evaluate(workdir, 'vae')
  gain_standard = vae_alone['test_bpd_elbo'] - glow_alone['test_bpd_elbo']
  gain_flow = prior_alone['test_bpd_elbo'] - glow_with_prior['test_bpd_elbo']
  np.testing.assert_allclose(gain_standard, gain_flow, atol=1e-4)
  # Its own prior named as the chain's prior is the phase itself.
  own = _evaluate(workdir, 'glow', 'vae')
  assert own['test_bpd_iw'] == glow_alone['test_bpd_iw']
  np.testing.assert_array_equal(_samples(workdir, 'glow+vae')['x'], _samples(workdir, 'glow')['x'])
  with open(os.path.join(workdir, 'eval', 'metrics.json')) as f:
    saved = json.load(f)
  assert set(saved) == {'prior', 'vae+prior', 'glow', 'glow+prior', 'vae', 'glow+vae'}
  assert saved['glow+prior']['prior_phase'] == 'prior'
  assert saved['glow+prior']['test_bpd_iw'] == glow_with_prior['test_bpd_iw']


@pytest.mark.slow
def test_a_chain_refuses_priors_trained_on_another_phase1(chain_workdir):
  config = _config('glow', **{'model.variance': 'gamma', 'model.prior.kind': 'standard'})
  config.eval.prior_phase = 'prior'
  phase = phases.build(config, (8, 8, 1))
  workdir, _ = chain_workdir
  variables, _ = loading.load_variables(config, workdir, phase)
  params = dict(variables['params'])
  params['decoder'] = jax.tree_util.tree_map(lambda p: p + 1e-3, params['decoder'])
  with pytest.raises(loading.EvaluationError, match='different phase-1 models'):
    loading.load_chain(config, workdir, {**variables, 'params': params}, (8, 8, 1))
  bad = _config('glow_baseline')
  bad.eval.prior_phase = 'prior'
  with pytest.raises(loading.EvaluationError, match='a chain is a VAE phase'):
    loading.check_prior_phase(bad, workdir)


@pytest.mark.slow
def test_a_maf_prior_trains_post_hoc_with_early_stopping_and_serves_chains_and_load(tmp_path):
  """model.prior.kind='maf' where the flow prior works: trained post hoc on a frozen VAE on
  every device (4) with early stopping, restored from its checkpoint, sampled as a chain, and
  through vaeglow_jax.load; the joint VAE with it trains too."""
  import vaeglow_jax
  workdir = str(tmp_path / 'run')
  vae = {'model.variance': 'gamma', 'model.prior.kind': 'standard'}
  trainer.train_and_evaluate(_config('vae', **vae), workdir)
  maf = {'model.variance': 'gamma', 'model.prior.kind': 'maf', 'num_devices': 0,
         'eval_every_steps': 1, 'early_stopping_patience': 2, 'eval_max_examples': 16}
  history = trainer.train_and_evaluate(_config('prior', **maf), workdir)
  assert history and all(np.isfinite(m['loss']) for _, m in history)
  prior_alone = _evaluate(workdir, 'prior')
  assert np.isfinite(prior_alone['test_bpd_iw'])
  vae_with_maf = _evaluate(workdir, 'vae', 'prior')
  np.testing.assert_allclose(vae_with_maf['test_bpd_iw'], prior_alone['test_bpd_iw'], rtol=1e-6)
  # Each part of the chain is named by its step and the digest of its saved fingerprints.
  from vaeglow_jax.io import checkpoints
  prior_dir = os.path.join(workdir, 'prior', 'checkpoints')
  assert vae_with_maf['prior_checkpoint_fingerprint'] == prior_alone['checkpoint_fingerprint'] == (
      checkpoints.digest(prior_dir, vae_with_maf['prior_checkpoint_step']))
  assert len(vae_with_maf['checkpoint_fingerprint']) == 16
  np.testing.assert_array_equal(_samples(workdir, 'vae+prior')['x'], _samples(workdir, 'prior')['x'])
  # The trained MAF is not the identity: its samples differ from the N(0, I) VAE's (same noise).
  assert not np.array_equal(_samples(workdir, 'prior')['x'], _evaluate_vae_samples(workdir))
  run = vaeglow_jax.load(workdir, 'prior')
  images = run.sample(4, seed=0)
  assert images.shape == (4, 8, 8, 1) and np.all(np.isfinite(images))
  joint = str(tmp_path / 'joint')
  history = trainer.train_and_evaluate(_config('vae', **{**maf, 'eval_every_steps': 0}), joint)
  assert np.isfinite(history[-1][1]['loss'])


def _evaluate_vae_samples(workdir):
  _evaluate(workdir, 'vae')
  return _samples(workdir, 'vae')['x']
