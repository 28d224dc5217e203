"""Achieved FLOP/s of each phase's train step against the machine's measured matmul peak.

Run: python -m benchmarks.roofline [--preset=default|quick|test] [--batch=16] [--steps=20] [--out=FILE]
FLOPs come from XLA's cost analysis of the compiled step; the peak is a jitted 2048x2048
fp32 matmul timed in the same run. 'Where the time goes': the same step split into its
parts, each compiled and timed alone: the frozen VAE forward, the Glow layer forward,
the Glow layer forward + backward, the optimizer update with donated buffers as in the
train step (phase glow); encoder+decoder+prior
forward, forward + backward, optimizer (phase vae); flow forward, forward + backward (baseline).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import optax
from absl import app, flags

from benchmarks import harness
from vaeglow_jax.models import losses
from vaeglow_jax.models.glow import MultiScaleGlow
from vaeglow_jax.models.model import VAEGlow

_PRESET = flags.DEFINE_string('preset', 'default', "'default' (paper size), 'quick' or 'test'")
_DATASET = flags.DEFINE_string('dataset', 'cifar10', 'cifar10 (32x32x3) or fashion_mnist')
_BATCH = flags.DEFINE_integer('batch', 16, 'batch size')
_STEPS = flags.DEFINE_integer('steps', 20, 'timed steps (median reported)')
_PHASES = flags.DEFINE_list('phases', ['vae', 'glow', 'glow_baseline'], 'phases')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')


def _time(fn, *args, steps):
  seconds, compiled = harness.compile_and_time(fn, *args, steps=steps)
  return {'median_seconds': seconds, 'flops': harness.flops_of(compiled)}


def parts(bench: harness.StepBench, steps: int) -> dict:
  """Times the pieces of one train step separately (each its own jit)."""
  phase, variables = bench.phase, bench.state.variables()
  x = losses.dequantize(bench.images, None, phase.n_bits)
  rng = bench.rng
  out = {}
  if phase.name == 'glow_baseline':
    base = {**variables, 'params': variables['params']['baseline']}
    log_prob = lambda p, x: phase.baseline.apply(  # noqa: E731
        {**base, 'params': p}, x, method=MultiScaleGlow.log_prob).mean()
    out['flow_forward'] = _time(log_prob, base['params'], x, steps=steps)
    out['flow_forward_backward'] = _time(jax.grad(log_prob), base['params'], x, steps=steps)
  else:
    vae = phase.vae

    def vae_forward(v, x):
      mean, log_std = vae.apply(v, x, method=VAEGlow.encode)
      z = mean + jnp.exp(log_std) * jax.random.normal(rng, mean.shape)
      dec_mean, _ = vae.apply(v, z, method=VAEGlow.decode)
      return jnp.sum(dec_mean) + jnp.sum(vae.apply(v, z, method=VAEGlow.prior_log_prob))
    out['vae_forward'] = _time(vae_forward, variables, x, steps=steps)
    if phase.spec.use_glow:
      def glow_fwd(p, x):
        v = {**variables, 'params': {**variables['params'], 'glow': p}}
        y, logdet = vae.apply(v, x, method=VAEGlow.glow_forward)
        return jnp.sum(y) + jnp.sum(logdet)
      glow_params = variables['params']['glow']
      out['glow_layer_forward'] = _time(glow_fwd, glow_params, x, steps=steps)
      out['glow_layer_forward_backward'] = _time(jax.grad(glow_fwd), glow_params, x, steps=steps)
    else:
      def loss(p, x):
        return jnp.mean(phase.per_example({**variables, 'params': {**variables['params'], **p}},
                                          x, rng)['objective'])
      out['vae_forward_backward'] = _time(jax.grad(loss), bench.state.params, x, steps=steps)
  out['optimizer_update'] = _time_optimizer(bench, steps)
  return out


def _time_optimizer(bench: harness.StepBench, steps: int) -> dict:
  """The update as the train step runs it: update + apply, parameters and state donated."""
  def update(params, opt_state, grads):
    updates, opt_state = bench.tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  copy = lambda tree: jax.tree.map(jnp.copy, tree)  # noqa: E731  (donation consumes buffers)
  params, opt_state = copy(bench.state.params), copy(bench.state.opt_state)
  grads = jax.tree.map(lambda p: jnp.full_like(p, 1e-3), params)
  compiled = jax.jit(update, donate_argnums=(0, 1)).lower(params, opt_state, grads).compile()
  params, opt_state = jax.block_until_ready(compiled(params, opt_state, grads))
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    params, opt_state = jax.block_until_ready(compiled(params, opt_state, grads))
    times.append(time.perf_counter() - start)
  return {'median_seconds': harness.median(times), 'flops': harness.flops_of(compiled)}


def main(argv):
  del argv
  peak = harness.matmul_peak_flops()
  config = harness.model_config(_DATASET.value, _PRESET.value)
  shape = harness.image_shape_of(config, _DATASET.value, _PRESET.value)
  results = []
  result = {'benchmark': 'roofline', 'preset': _PRESET.value, 'dataset': _DATASET.value,
            'machine': harness.machine(), 'matmul_peak_flops_per_second': peak, 'results': results}
  for phase in _PHASES.value:
    bench = harness.StepBench(config, phase, shape, _BATCH.value)
    seconds = harness.median(bench.step_seconds(_STEPS.value))
    flops = bench.flops()
    row = {'phase': phase, 'batch': _BATCH.value, 'image_shape': list(shape),
           'median_step_seconds': seconds, 'flops_per_step': flops,
           'achieved_flops_per_second': flops / seconds,
           'fraction_of_matmul_peak': flops / seconds / peak,
           'trainable_parameters': bench.trainable_parameters(),
           'parts': parts(bench, max(3, _STEPS.value // 4))}
    for part in row['parts'].values():
      part['fraction_of_step_time'] = part['median_seconds'] / seconds
    results.append(row)
    print(f"{phase}: {row['fraction_of_matmul_peak']:.1%} of the matmul peak", flush=True)
    harness.write(result, _OUT.value)
  harness.emit(result, _OUT.value)


if __name__ == '__main__':
  app.run(main)
