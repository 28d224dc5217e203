"""Test-split bits/dim of a trained phase: the ELBO and importance-weighted bounds (or the exact
density of a flow), data parallel over every device of every process."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from vaeglow_jax import data as data_lib
from vaeglow_jax import phases
from vaeglow_jax import timing as timing_lib
from vaeglow_jax.evaluation.metrics import keys
from vaeglow_jax.models import losses
from vaeglow_jax.runtime import sharding


def make_bounds_step(phase: phases.Phase, mesh, num_samples: int):
  """jit (variables, uint8 images (B, H, W, C), rng) -> per-example (log-likelihood
  ELBO estimate, IWAE bound), each (B,) in nats on dequantised images."""
  def step(variables, images, rng):
    rng_deq, rng_w = jax.random.split(rng)
    x = losses.dequantize(images, rng_deq, phase.n_bits)
    log_w = phase.log_weights(variables, x, rng_w, num_samples)
    return jnp.mean(log_w, axis=0), losses.iw_log_likelihood(log_w)
  replicated, batch = NamedSharding(mesh, P()), NamedSharding(mesh, P('data'))
  return jax.jit(step, in_shardings=(replicated, batch, replicated), out_shardings=(batch, batch))


def test_bounds(phase, variables, config, mesh, rng, log=print) -> dict:
  """Test-split bits/dim: ELBO and IW bounds (or the exact density for the Glow baseline)."""
  from jax.experimental import multihost_utils
  e = config.eval
  num_samples = 1 if phase.exact_density else e.iw_samples
  step = make_bounds_step(phase, mesh, num_samples)
  elbo, iw = [], []
  start = time.time()
  total = data_lib.num_examples(config.data, 'test')
  total = min(total, e.max_test_examples) if e.max_test_examples else total
  for i, (images, mask) in enumerate(data_lib.eval_iterator(
      config.data, 'test', e.batch_size, e.max_test_examples or None)):
    a, b = step(variables, sharding.shard_batch(images, mesh), jax.random.fold_in(rng, i))
    a, b, m = (np.asarray(multihost_utils.process_allgather(t, tiled=True)) for t in
               (a, b, sharding.shard_batch(mask, mesh)))
    elbo.append(a[m])
    iw.append(b[m])
    if i % 10 == 0:
      log('test bounds: ' + timing_lib.progress(sum(len(x) for x in elbo), total,
                                                time.time() - start, 'images'))
  elbo, iw = np.concatenate(elbo), np.concatenate(iw)
  bpd_elbo = float(np.mean(phase.bits_per_dim(-elbo)))
  bpd_iw = float(np.mean(phase.bits_per_dim(-iw)))
  out = {'num_test_examples': int(elbo.size)}
  if phase.exact_density:
    out[keys.TEST_BPD_EXACT] = bpd_elbo
  else:
    out.update({keys.TEST_BPD_ELBO: bpd_elbo, keys.TEST_BPD_IW: bpd_iw,
                keys.IW_SAMPLES: int(num_samples)})
  return out
