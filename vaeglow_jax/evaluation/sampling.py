"""Samples of a trained phase as image files: the library side of `experiments.sample`.

`draw(phase, variables, rng, num, temperature, batch, mesh)` maps noise to images in chunks of
`batch`; chunk i is a function of fold_in(rng, i) only, so the images do not depend on the
number of devices or processes. Each chunk is sharded over the mesh's 'data' axis (every
device of every process); process 0 gathers them and writes the files (images.write_folder).
"""

from __future__ import annotations

import math
import time

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from vaeglow_jax import sharding
from vaeglow_jax import timing
from vaeglow_jax import images as images_lib


def samplers(phase, temperature: float, batch: int, mesh):
  """(noise_fn(rng) -> sample_noise of `batch`, decode(variables, *noise) -> images): the two
  jitted functions `draw` runs, sharded over the mesh's 'data' axis."""
  data, replicated = NamedSharding(mesh, P('data')), NamedSharding(mesh, P())
  noise_fn = jax.jit(lambda r: phase.sample_noise(r, batch), out_shardings=data)
  decode = jax.jit(lambda v, z, x, e: phase.decode_parts(v, z, x, e, temperature)['x'],
                   in_shardings=(replicated, data, data, data), out_shardings=data)
  return noise_fn, decode


def draw(phase, variables, rng, num: int, temperature: float, batch: int, mesh,
         log=None, cache: dict | None = None) -> np.ndarray:
  """(num, H, W, C) uint8 samples (the nearest 8-bit codes of the clipped [0, 1] images).
  batch: images per chunk, a multiple of the mesh's device count. log(line): progress with an
  ETA, about every 10 s (None: silent). cache: a dict kept by the caller, where the jitted
  functions are kept per (temperature, batch), so later calls compile nothing (`variables`
  must then already be replicated over `mesh`)."""
  key = ('draw', float(temperature), int(batch))
  if cache is not None and key in cache:
    noise_fn, decode = cache[key]
  else:
    noise_fn, decode = samplers(phase, temperature, batch, mesh)
    if cache is not None:
      cache[key] = noise_fn, decode
  if cache is None:
    variables = sharding.replicate(jax.device_get(variables), mesh)
  chunks = []
  start = last = time.time()
  for i in range(math.ceil(num / batch)):
    images = decode(variables, *noise_fn(jax.random.fold_in(rng, i)))
    if jax.process_count() > 1:  # every process's shards, on every process (a collective)
      from jax.experimental import multihost_utils
      images = multihost_utils.process_allgather(images, tiled=True)
    chunks.append(np.asarray(jax.device_get(images)))
    if log and time.time() - last > 10:
      last = time.time()
      log('samples: ' + timing.progress(min((i + 1) * batch, num), num, last - start, 'images'))
  return images_lib.to_uint8(np.concatenate(chunks)[:num])
