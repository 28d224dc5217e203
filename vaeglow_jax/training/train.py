"""Training-step pieces: train state, optax optimizer, the sharded jit train step, the loop step."""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util
from jax.sharding import NamedSharding, PartitionSpec as P

from vaeglow_jax.models import losses
from vaeglow_jax.runtime import sharding


@flax.struct.dataclass
class TrainState:
  """Everything a checkpoint holds. Only `params` is trained; `frozen` holds the
  restored parameters of earlier phases (no optimizer state for them)."""
  step: jax.Array
  params: Any      # {key: subtree} for the trainable top-level keys
  frozen: Any      # {key: subtree} for the frozen top-level keys
  collections: Any  # other variable collections (e.g. 'constants' of the LU 1x1 convs)
  opt_state: Any

  def variables(self, params=None):
    params = self.params if params is None else params
    return {'params': {**self.frozen, **params}, **self.collections}


def split_variables(variables, trainable: tuple[str, ...]):
  """-> (trainable params, frozen params, other collections)."""
  params = variables['params']
  train = {k: v for k, v in params.items() if k in trainable}
  frozen = {k: v for k, v in params.items() if k not in trainable}
  collections = {k: v for k, v in variables.items() if k != 'params'}
  return train, frozen, collections


def halving_steps(config, steps_per_epoch: int) -> int:
  """Updates between halvings of the learning rate: `lr_halve_every_steps` when > 0, else
  `lr_halve_every_epochs` epochs of `steps_per_epoch` updates (at least 1)."""
  if config.get('lr_halve_every_steps', 0) > 0:
    return int(config.lr_halve_every_steps)
  return max(1, int(config.lr_halve_every_epochs * steps_per_epoch))


def learning_rate_schedule(config, steps_per_epoch: int) -> optax.Schedule:
  """The shared learning rate as a function of the update count: linear warm-up over
  `warmup_steps`, then `learning_rate` halved every `halving_steps` updates (staircase), never
  below `min_learning_rate` (0: no floor)."""
  floor = config.get('min_learning_rate', 0.0)
  schedule = optax.exponential_decay(config.learning_rate, halving_steps(config, steps_per_epoch),
                                     0.5, staircase=True, end_value=floor if floor > 0 else None)
  if config.warmup_steps > 0:
    warmup = optax.linear_schedule(0.0, config.learning_rate, config.warmup_steps)
    schedule = optax.join_schedules([warmup, schedule], [config.warmup_steps])
  return schedule


def make_optimizer(config, steps_per_epoch: int) -> optax.GradientTransformation:
  """Adam; lr halved every `lr_halve_every_epochs` (the paper: 1e-4, every 250) or
  `lr_halve_every_steps`, floored at `min_learning_rate`; optional linear warm-up and
  global-norm clipping.

  Scalar log-variances (parameters named 'log_gamma') follow `model.gamma`: with
  update='optimal' the optimizer leaves them alone (the train step sets them in closed
  form); with 'gradient' and learning_rate > 0 they get their own Adam at that constant
  rate, since Adam moves a scalar by about the learning rate per step and the shared
  schedule cannot reach log gamma ~ -3 in a short run."""
  schedule = learning_rate_schedule(config, steps_per_epoch)
  chain = []
  if config.grad_clip_norm > 0:
    chain.append(optax.clip_by_global_norm(config.grad_clip_norm))
  chain.append(optax.adam(schedule))
  main = optax.chain(*chain)
  gamma = config.model.gamma
  if gamma['update'] == 'optimal':
    gamma_tx = optax.set_to_zero()
  elif gamma['learning_rate'] > 0:
    gamma_tx = optax.adam(gamma['learning_rate'])
  else:
    return main
  labels = lambda params: traverse_util.path_aware_map(  # noqa: E731
      lambda path, _: 'gamma' if path[-1] == 'log_gamma' else 'main', params)
  return optax.multi_transform({'main': main, 'gamma': gamma_tx}, labels)


def create_state(variables, trainable, tx) -> TrainState:
  params, frozen, collections = split_variables(variables, trainable)
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, frozen=frozen,
                    collections=collections, opt_state=tx.init(params))


def tree_where(condition, if_true, if_false):
  """Leaf by leaf, `if_true` where the scalar `condition` holds, else `if_false` (two pytrees of
  one structure): how a guarded step keeps the old state."""
  return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), if_true, if_false)


# The metrics the train step adds to the batch means of the phase's per-example terms.
STEP_METRICS = ('loss', 'grad_norm', 'finite', 'bpd')


def make_train_step(phase, tx, mesh, jit: bool = True):
  """jit-compiled (state, uint8 batch, rng) -> (state, metrics); data parallel over
  the mesh's 'data' axis, the state buffers donated. jit=False: the plain function."""

  def step(state: TrainState, images, rng):
    rng = jax.random.fold_in(rng, state.step)
    rng_deq, rng_loss = jax.random.split(rng)
    x = losses.dequantize(images, rng_deq, phase.n_bits)

    def loss_fn(params):
      terms = phase.per_example(state.variables(params), x, rng_loss)
      return jnp.mean(terms['objective']), terms

    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    grad_norm = optax.tree.norm(grads)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = phase.set_optimal_gamma(optax.apply_updates(state.params, updates), terms)
    # Non-finite guard: such a step never reaches the parameters or optimizer state.
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    params = tree_where(finite, params, state.params)
    opt_state = tree_where(finite, opt_state, state.opt_state)
    metrics = {k: jnp.mean(v) for k, v in terms.items()}
    metrics.update(loss=loss, grad_norm=grad_norm, finite=finite,  # STEP_METRICS
                   bpd=jnp.mean(phase.bits_per_dim(terms['objective'])))
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    return new_state, metrics

  if not jit:
    return step
  replicated = NamedSharding(mesh, P())
  return jax.jit(step, in_shardings=(replicated, NamedSharding(mesh, P('data')), replicated),
                 out_shardings=(replicated, replicated), donate_argnums=(0,))


@flax.struct.dataclass
class LoopMonitor:
  """Device-side bookkeeping of the training loop, so the host need not read every step.

  sums / finite_steps: metric sums over the finite steps since the host last reset them;
  consecutive_nonfinite: non-finite steps in a row; last_bad_step / last_bad_finite: the
  1-based number of the last non-finite step and which of its metrics were finite;
  halted: the run must stop (nonfinite='stop', or too many non-finite steps in a row).
  Once halted, steps leave the state unchanged. Not checkpointed: a resumed run starts
  with a fresh monitor."""
  sums: Any
  finite_steps: jax.Array
  nonfinite_steps: jax.Array
  consecutive_nonfinite: jax.Array
  last_bad_step: jax.Array
  last_bad_finite: Any
  halted: jax.Array

  @classmethod
  def create(cls, metric_names):
    names = [k for k in metric_names if k != 'finite']
    # Numpy leaves, one per field: donated buffers must not alias.
    count = lambda: np.zeros((), np.int32)  # noqa: E731
    return cls(sums={k: np.zeros((), np.float32) for k in names}, finite_steps=count(),
               nonfinite_steps=count(), consecutive_nonfinite=count(), last_bad_step=count(),
               last_bad_finite={k: np.ones((), bool) for k in names}, halted=np.zeros((), bool))

  def reset_sums(self) -> 'LoopMonitor':
    return self.replace(sums=jax.tree_util.tree_map(jnp.zeros_like, self.sums),
                        finite_steps=jnp.zeros_like(self.finite_steps),
                        nonfinite_steps=jnp.zeros_like(self.nonfinite_steps))


def monitored(step, stop_on_nonfinite: bool, max_consecutive_nonfinite: int):
  """(state, monitor, batch, rng) -> (state, monitor), not jitted: `step` ((state, batch, rng)
  -> (state, metrics), state with a `.step` count, metrics with a boolean 'finite' that says
  the step reached the state) with its metrics accumulated on the device (`LoopMonitor`)."""

  def loop_step(state, monitor, batch, rng):
    new_state, metrics = step(state, batch, rng)
    finite = metrics['finite']
    sums = {k: v + jnp.where(finite, metrics[k], 0.0) for k, v in monitor.sums.items()}
    consecutive = jnp.where(finite, 0, monitor.consecutive_nonfinite + 1)
    halted = ~finite & (stop_on_nonfinite | (consecutive >= max_consecutive_nonfinite))
    updated = monitor.replace(
        sums=sums, finite_steps=monitor.finite_steps + finite,
        nonfinite_steps=monitor.nonfinite_steps + ~finite, consecutive_nonfinite=consecutive,
        last_bad_step=jnp.where(finite, monitor.last_bad_step, state.step + 1),
        last_bad_finite={k: jnp.where(finite, monitor.last_bad_finite[k], jnp.isfinite(metrics[k]))
                         for k in monitor.last_bad_finite},
        halted=halted)
    # A halted run changes nothing more: the host raises at its next read.
    return (tree_where(monitor.halted, state, new_state),
            tree_where(monitor.halted, monitor, updated))

  return loop_step


def make_loop_step(phase, tx, mesh, stop_on_nonfinite: bool, max_consecutive_nonfinite: int):
  """-> (jit (state, monitor, uint8 batch, rng) -> (state, monitor), jit monitor ->
  monitor with zeroed sums): the train step of `make_train_step` with its metrics
  accumulated on the device (`LoopMonitor`), so the host can dispatch step after step
  and read only when it logs, saves or samples."""
  loop_step = monitored(make_train_step(phase, tx, mesh, jit=False), stop_on_nonfinite,
                        max_consecutive_nonfinite)
  replicated = NamedSharding(mesh, P())
  jitted = jax.jit(loop_step, in_shardings=(replicated, replicated, NamedSharding(mesh, P('data')),
                                            replicated),
                   out_shardings=(replicated, replicated), donate_argnums=(0, 1))
  reset_sums = jax.jit(LoopMonitor.reset_sums, out_shardings=replicated, donate_argnums=(0,))
  return jitted, reset_sums


def new_monitor(phase, mesh, state, images) -> LoopMonitor:
  """A fresh, replicated LoopMonitor for the metrics the train step returns: the phase's
  terms, found by tracing the forward pass only (tracing the whole step, gradient and
  optimizer included, cost about a second per run), plus STEP_METRICS."""

  def terms(variables, images, rng):
    return phase.per_example(variables, losses.dequantize(images, rng, phase.n_bits), rng)

  names = set(jax.eval_shape(terms, state.variables(), images, jax.random.PRNGKey(0)))
  return sharding.replicate(LoopMonitor.create(sorted(names | set(STEP_METRICS))), mesh)


def make_eval_step(phase, mesh):
  """jit (variables, uint8 batch, mask, rng) -> (sum of objective over mask, count)."""

  def step(variables, images, mask, rng):
    x = losses.dequantize(images, rng, phase.n_bits)
    objective = phase.per_example(variables, x, rng)['objective']
    return jnp.sum(jnp.where(mask, objective, 0.0)), jnp.sum(mask)

  replicated = NamedSharding(mesh, P())
  data = NamedSharding(mesh, P('data'))
  return jax.jit(step, in_shardings=(replicated, data, data, replicated),
                 out_shardings=(replicated, replicated))
