"""A trained run in Python: `vaeglow_jax.load(workdir)` -> TrainedRun.

    import vaeglow_jax
    run = vaeglow_jax.load('workdirs/demo')           # the last trained phase; local or gs://
    images = run.sample(16, temperature=0.5, seed=0)  # uint8 (16, H, W, C), as experiments.sample
    bpd = run.bits_per_dim(images)['iw']              # (16,) bits/dim, as experiments.evaluate

The model is the one the phase was trained with (DIR/<phase>/config.json); its latest checkpoint
is loaded once, checked against the model, and replicated over a mesh of every device found.
Every method is jitted once per run (compiled at its first call per batch shape and, for
`sample`, temperature; later calls compile nothing) and data parallel: a batch
is split over the devices, so its size must be a multiple of their number (`num_devices`).
Images in and out are uint8 (n, H, W, C) in the data's 8-bit codes, as the datasets store them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from vaeglow_jax import images as images_lib
from vaeglow_jax import phases
from vaeglow_jax.config import checks as config_checks
from vaeglow_jax.config import history
from vaeglow_jax.errors import UserError
from vaeglow_jax.evaluation import bounds
from vaeglow_jax.evaluation import loading
from vaeglow_jax.evaluation import sampling
from vaeglow_jax.io import workdir as workdir_lib
from vaeglow_jax.models import losses
from vaeglow_jax.runtime import sharding


class LoadError(UserError, ValueError):
  """No trained phase where asked; the message says what to train or pass."""


def last_trained_phase(workdir: str) -> str:
  """The phase in `workdir` whose newest checkpoint is the most recent."""
  newest = {}
  for phase in phases.SPECS:
    directory = workdir_lib.checkpoints_dir(workdir, phase)
    if workdir_lib.has_checkpoint(directory):
      newest[phase] = workdir_lib.newest_checkpoint_time(directory)
  if not newest:
    raise LoadError(f'no trained phase in {workdir} (no DIR/<phase>/checkpoints/<step>); train '
                    'one with vaeglow-train, or pass the right work directory.')
  return max(newest, key=newest.get)


@dataclasses.dataclass(frozen=True)
class TrainedRun:
  """A trained phase's model and variables (see the module docstring)."""
  workdir: str
  config: Any  # ml_collections.ConfigDict: the run's config (with any evaluation overrides)
  phase: phases.Phase
  variables: Any  # replicated over `mesh`
  step: int  # the checkpoint's training step
  mesh: Mesh
  _compiled: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return self.phase.image_shape

  @property
  def num_devices(self) -> int:
    return self.mesh.devices.size

  def _batch(self, images: np.ndarray) -> jax.Array:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != self.image_shape:
      raise ValueError(f'images must be uint8 (n, {", ".join(map(str, self.image_shape))}), got '
                       f'{images.dtype} {images.shape}')
    sharding.check_batch_size(len(images), self.mesh, 'the batch size')
    return sharding.shard_batch(images, self.mesh)

  def sample(self, num: int, temperature: float | None = None, seed: int = 0) -> np.ndarray:
    """`num` samples, uint8 (num, H, W, C): the images `experiments.sample --num=num
    --temperature=T --seed=seed` writes (T default: the run's sampling.temperature)."""
    t = self.config.sampling.temperature if temperature is None else temperature
    return sampling.draw(self.phase, self.variables, jax.random.PRNGKey(seed), num, float(t),
                         self.config.eval.batch_size, self.mesh, cache=self._compiled)

  def encode(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, H, W, C) -> the posterior q(z|x): (mean, log_std), each (n, latent_dim),
    of the images' 8-bit codes at the centres of their bins."""
    mean, log_std = self._jitted('encode')(self.variables, self._batch(images))
    return np.asarray(mean), np.asarray(log_std)

  def decode(self, z: np.ndarray, temperature: float = 0.0, seed: int = 0) -> dict:
    """Latents z (n, latent_dim) -> {'decoder_mean', 'x'}: the decoder's mean and, through the
    Glow layer (the decoder mean itself without one), x = f^-1(mean + T * std * noise) with
    noise from `seed`; each uint8 (n, H, W, C)."""
    z = sharding.shard_batch(np.asarray(z, np.float32), self.mesh)
    noise = jax.random.normal(jax.random.PRNGKey(seed), (z.shape[0],) + self.image_shape)
    out = self._jitted('decode')(self.variables, z, noise, float(temperature))
    return {k: images_lib.to_uint8(np.clip(np.asarray(v), 0.0, 1.0)) for k, v in out.items()}

  def reconstruct(self, images: np.ndarray) -> dict:
    """uint8 images -> {'decoder_mean', 'x'}, each uint8 like them: the decoder mean at the
    posterior mean of z and the Glow layer's image of it at T=0 (Phase.reconstruct)."""
    out = self._jitted('reconstruct')(self.variables, self._batch(images))
    return {k: images_lib.to_uint8(np.asarray(v)) for k, v in out.items()}

  def bits_per_dim(self, images: np.ndarray, seed: int | None = None) -> dict:
    """Per-image bits/dim of uint8 images (n, H, W, C): {'elbo': (n,), 'iw': (n,)} with K =
    eval.iw_samples ({'exact': (n,)} for the Glow baseline). With seed None, the dequantisation
    and posterior draws are those `experiments.evaluate` uses for the first test batch, so for
    that batch the mean is the number it reports when the test split is one batch."""
    if seed is None:
      rng = jax.random.fold_in(jax.random.split(jax.random.PRNGKey(self.config.eval.seed), 3)[0], 0)
    else:
      rng = jax.random.PRNGKey(seed)
    k = 1 if self.phase.exact_density else self.config.eval.iw_samples
    step = self._cached(('bounds', k), lambda: bounds.make_bounds_step(self.phase, self.mesh, k))
    elbo, iw = step(self.variables, self._batch(images), rng)
    to_bpd = lambda v: np.asarray(self.phase.bits_per_dim(-np.asarray(v)))  # noqa: E731
    if self.phase.exact_density:
      return {'exact': to_bpd(elbo)}
    return {'elbo': to_bpd(elbo), 'iw': to_bpd(iw)}

  def _cached(self, key, make):
    """The jitted function kept under `key`, made by make() at its first use."""
    if key not in self._compiled:
      self._compiled[key] = make()
    return self._compiled[key]

  def _jitted(self, name: str):
    """The jitted `name` ('encode', 'decode' or 'reconstruct'), made at its first use."""
    return self._cached(name, lambda: self._make(name))

  def _make(self, name: str):
    from vaeglow_jax.models.model import VAEGlow
    if not isinstance(self.phase, phases.VAEPhase):
      raise TypeError(f'{name} needs a VAE phase; {self.phase.name!r} has no encoder or decoder')
    vae, data = self.phase.vae, NamedSharding(self.mesh, P('data'))
    vae_variables = self.phase._vae_variables  # pylint: disable=protected-access

    def encode(variables, codes):
      x = losses.dequantize(codes, None, self.phase.n_bits)  # the bins' centres
      return vae.apply(vae_variables(variables), x, method=VAEGlow.encode)

    def decode(variables, z, noise, temperature):
      out = vae.apply(vae_variables(variables), z, noise, temperature, self.phase.spec.use_glow,
                      method=VAEGlow.decode_sample)
      return {'decoder_mean': out['decoder_mean'], 'x': out['x']}

    def reconstruct(variables, codes):
      return self.phase.reconstruct(variables, losses.dequantize(codes, None, self.phase.n_bits))

    fn = {'encode': encode, 'decode': decode, 'reconstruct': reconstruct}[name]
    return jax.jit(fn, in_shardings=None, out_shardings=data)


def load(workdir: str, phase: str | None = None, prior_phase: str = '',
         num_devices: int = 0) -> TrainedRun:
  """The trained `phase` of `workdir` (default: the last trained), local or gs://; with
  `prior_phase`, the chain that samples from that phase's prior (as --config.eval.prior_phase).
  num_devices: how many devices to spread batches over (0: all)."""
  phase = phase or last_trained_phase(workdir)
  overrides = {'phase': phase, 'eval.prior_phase': prior_phase, 'num_devices': num_devices}
  config = history.with_overrides(history.trained_config(workdir, phase), overrides)
  image_shape = config_checks.validate_config(config)
  mesh = sharding.make_mesh(config.num_devices or None)
  built = phases.build(config, image_shape)
  variables, step = loading.load_variables(config, workdir, built)
  if prior_phase:
    built, variables, _ = loading.load_chain(config, workdir, variables, image_shape)
  return TrainedRun(workdir, config, built, sharding.replicate(jax.device_get(variables), mesh),
                    step, mesh)
