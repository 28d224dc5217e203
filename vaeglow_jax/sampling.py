"""Samples of a trained phase as image files: the library side of `experiments.sample`.

`draw(phase, variables, rng, num, temperature, batch, mesh)` maps noise to images in chunks of
`batch`; chunk i is a function of fold_in(rng, i) only, so the images do not depend on the
number of devices or processes. Each chunk is sharded over the mesh's 'data' axis (every
device of every process); process 0 gathers them and writes the files.
"""

from __future__ import annotations

import math
import os

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from vaeglow_jax import train as train_lib
from vaeglow_jax import workdir as workdir_lib


def draw(phase, variables, rng, num: int, temperature: float, batch: int, mesh) -> np.ndarray:
  """(num, H, W, C) uint8 samples (the nearest 8-bit codes of the clipped [0, 1] images).
  batch: images per chunk, a multiple of the mesh's device count."""
  data, replicated = NamedSharding(mesh, P('data')), NamedSharding(mesh, P())
  noise_fn = jax.jit(lambda r: phase.sample_noise(r, batch), out_shardings=data)
  decode = jax.jit(lambda v, z, x, e: phase.decode_parts(v, z, x, e, temperature)['x'],
                   in_shardings=(replicated, data, data, data), out_shardings=data)
  variables = train_lib.replicate(jax.device_get(variables), mesh)
  chunks = []
  for i in range(math.ceil(num / batch)):
    images = decode(variables, *noise_fn(jax.random.fold_in(rng, i)))
    if jax.process_count() > 1:  # every process's shards, on every process (a collective)
      from jax.experimental import multihost_utils
      images = multihost_utils.process_allgather(images, tiled=True)
    chunks.append(np.asarray(jax.device_get(images)))
  return to_uint8(np.concatenate(chunks)[:num])


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[0, 1] floats -> the nearest 8-bit codes (values clipped to [0, 1] first)."""
  return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_folder(out_dir: str, images: np.ndarray) -> list[str]:
  """One 8-bit PNG per image (grayscale for one channel, RGB for three), 000000.png onwards,
  plus samples.npz holding the same uint8 array as 'x' (N, H, W, C). Returns the PNG names."""
  from PIL import Image
  os.makedirs(out_dir, exist_ok=True)
  width = max(6, len(str(len(images) - 1)))
  names = []
  for i, image in enumerate(images):
    name = f'{i:0{width}d}.png'
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(os.path.join(out_dir, name))
    names.append(name)
  workdir_lib.write_npz_atomic(os.path.join(out_dir, 'samples.npz'), {'x': images})
  return names
