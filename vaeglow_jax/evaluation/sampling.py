"""Samples of a trained phase: the one place noise becomes images, for `vaeglow-sample`, the
evaluation's scored samples and `vaeglow_jax.load(...).sample`.

`draw_parts(phase, variables, rng, num, temperature, batch, mesh)` maps noise to images in chunks of
`batch`; chunk i is a function of fold_in(rng, i) only, so the images do not depend on the
number of devices or processes. Each chunk is sharded over the mesh's 'data' axis (every
device of every process); `draw` gives the images alone. Process 0 writes the files
(images.write_folder).
"""

from __future__ import annotations

import math
import time

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from vaeglow_jax import images as images_lib
from vaeglow_jax import timing
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.runtime import sharding


def sampler(phase, temperature: float, batch: int, mesh, parts: tuple[str, ...] | None = ('x',)):
  """jit (variables, rng) -> {part: `batch` images} of Phase.decode_parts on sample_noise(rng),
  sharded over the mesh's 'data' axis. parts: keys of decode_parts ('x'; with a Glow layer also
  'x_tilde' and 'decoder_mean'); None: every one. Noise and decoding are one program: split in
  two, XLA fuses differently and moves about one pixel in 10^4 by one 8-bit level."""
  data, replicated = NamedSharding(mesh, P('data')), NamedSharding(mesh, P())

  def sample(variables, rng):
    decoded = phase.decode_parts(variables, *phase.sample_noise(rng, batch), temperature)
    return {k: decoded[k] for k in (parts or decoded)}
  return jax.jit(sample, in_shardings=(replicated, replicated), out_shardings=data)


def local_mesh():
  """A mesh of this process's first device alone: samples drawn on it need no other process."""
  return jax.sharding.Mesh(np.array(jax.local_devices()[:1]), ('data',))


def draw(phase, variables, rng, num: int, temperature: float, batch: int, mesh,
         log=None, cache: dict | None = None) -> np.ndarray:
  """(num, H, W, C) uint8 samples (the nearest 8-bit codes of the clipped [0, 1] images).
  batch: images per chunk, a multiple of the mesh's device count. log(line): progress with an
  ETA, about every 10 s (None: silent). cache: a dict kept by the caller, where the jitted
  functions are kept per (temperature, batch), so later calls compile nothing (`variables`
  must then already be replicated over `mesh`)."""
  return draw_parts(phase, variables, rng, num, temperature, batch, mesh, ('x',), log, cache)['x']


def draw_parts(phase, variables, rng, num: int, temperature: float, batch: int, mesh=None,
               parts: tuple[str, ...] | None = None, log=None,
               cache: dict | None = None) -> dict[str, np.ndarray]:
  """{part: (num, H, W, C) uint8} of Phase.decode_parts for the same noise: 'x', and with a Glow
  layer 'x_tilde' and 'decoder_mean' (parts=None: every part; ('x',): what `draw` gives).
  mesh=None draws on this process's first device alone (`local_mesh`), as each process of an
  evaluation does; a mesh over several processes gathers every chunk on every process."""
  mesh = local_mesh() if mesh is None else mesh
  key = ('draw', float(temperature), int(batch), parts)
  if cache is not None and key in cache:
    sample = cache[key]
  else:
    sample = sampler(phase, temperature, batch, mesh, parts)
    if cache is not None:
      cache[key] = sample
  if cache is None:
    variables = sharding.replicate(jax.device_get(variables), mesh)
  spans_processes = any(d.process_index != jax.process_index() for d in mesh.devices.flat)
  chunks = []
  start = last = time.time()
  for i in range(math.ceil(num / batch)):
    images = sample(variables, jax.random.fold_in(rng, i))
    if spans_processes:  # every process's shards, on every process (a collective)
      from jax.experimental import multihost_utils
      images = multihost_utils.process_allgather(images, tiled=True)
    chunks.append(jax.device_get(images))
    if log and time.time() - last > 10:
      last = time.time()
      log('samples: ' + timing.progress(min((i + 1) * batch, num), num, last - start, 'images'))
  return {k: images_lib.to_uint8(np.concatenate([np.asarray(c[k]) for c in chunks])[:num])
          for k in chunks[0]}


def export_samples(path: str, codes: dict[str, np.ndarray]) -> str:
  """Writes uint8 (N, H, W, C) samples (one array per key, as `draw_parts` gives them) to an
  .npz; returns its file name."""
  files_lib.write_npz_atomic(path, {k: np.asarray(v, np.uint8) for k, v in codes.items()})
  return files_lib.basename(path)
