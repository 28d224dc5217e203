"""PNG figures: sample grids, decoder mean vs Glow-layer sample (the paper's Figure 4),
latent interpolations (Figure 5) and training curves from the TensorBoard event files."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vaeglow_jax import images as images_lib
from vaeglow_jax import phases
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.io import workdir as workdir_lib
from vaeglow_jax.models import losses



def slerp(a: jax.Array, b: jax.Array, steps: int) -> jax.Array:
  """(steps, *a.shape) spherical interpolation from a to b (rows of a and b are vectors);
  keeps the norm typical of Gaussian noise, unlike the straight line."""
  flat_a, flat_b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
  cos = jnp.sum(flat_a * flat_b, -1) / (jnp.linalg.norm(flat_a, axis=-1)
                                         * jnp.linalg.norm(flat_b, axis=-1))
  omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))[:, None]
  t = jnp.linspace(0.0, 1.0, steps)[:, None, None]
  sin = jnp.maximum(jnp.sin(omega), 1e-6)
  out = (jnp.sin((1 - t) * omega) / sin) * flat_a + (jnp.sin(t * omega) / sin) * flat_b
  return out.reshape((steps,) + a.shape)


def model_figures(phase, variables, rng, config, out_dir: str) -> dict:
  """Writes the model's figures into out_dir; returns {figure: file name}."""
  e = config.eval
  temperature = float(config.sampling.temperature)
  out = {}
  rows, steps = e.num_interpolations, e.interpolation_steps
  rng_a, rng_b, rng_c = jax.random.split(rng, 3)
  if phase.spec.use_glow:
    # Figure 4: decoder mean (top of each pair) and the Glow-layer sample from the same z.
    n = min(e.num_grid_samples, 32)
    noise = phase.sample_noise(rng_c, n)
    parts = jax.jit(lambda v, nz, nx, ne: phase.decode_parts(v, nz, nx, ne, temperature))(
        variables, *noise)
    x, mean = parts['x'], parts['decoder_mean']
    columns = 8
    pairs = []
    for start in range(0, n, columns):
      pairs += [np.asarray(mean[start:start + columns]), np.asarray(x[start:start + columns])]
    out['decoder_mean_vs_glow'] = images_lib.save_grid(
        files_lib.join(out_dir, 'decoder_mean_vs_glow.png'), np.concatenate(pairs), columns)
  # Figure 5: each row goes from one random latent to another (slerp in the noise space);
  # the Glow layer's pixel noise is shared along a row.
  a, b = phase.sample_noise(rng_a, rows), phase.sample_noise(rng_b, rows)
  walked = phase.interpolated_noise  # the latent: noise_z for the VAE phases, noise_x for Glow
  path = slerp(a[walked], b[walked], steps)  # (steps, rows, ...)
  noise = lambda i: tuple(path[i] if j == walked else a[j] for j in range(3))  # noqa: E731
  decode = jax.jit(lambda v, nz, nx, ne: phase.decode_parts(v, nz, nx, ne, temperature)['x'])
  frames = np.stack([np.asarray(decode(variables, *noise(i))) for i in range(steps)], 1)
  out['interpolation'] = images_lib.save_grid(
      files_lib.join(out_dir, 'interpolation.png'),
      frames.reshape((rows * steps,) + frames.shape[2:]), steps)
  return out


def reconstructions(phase, variables, images: np.ndarray, batch: int, out_dir: str,
                    shown: int = 16) -> tuple[dict, np.ndarray | None]:
  """Test images through the phase's encoder and back (Phase.reconstruct), for phases with an
  encoder. images: (n, H, W, C) 8-bit levels / 255 in [0, 1]. Writes reconstructions.png: in
  blocks of 8 columns, a row of inputs, a row of their decoder means and, with a Glow layer, a
  row of the Glow layer's outputs (`shown` images, evenly spaced over the n: a folder sorted by
  class shows every class). -> ({'rms_decoder_mean', 'rms_x' (with a
  Glow layer): the RMS
  per-pixel error against the inputs over all n, in [0, 1] pixel units; 'num_images': n,
  'figure': the file name}, the figure's uint8 grid), or ({}, None) without an encoder."""
  if phase.reconstruct is None:
    return {}, None
  fn = jax.jit(lambda v, x: phase.reconstruct(v, x))
  codes = images_lib.to_uint8(images)
  keys = ('decoder_mean', 'x') if phase.spec.use_glow else ('decoder_mean',)
  sq = {key: 0.0 for key in keys}
  shown_at = np.unique(np.linspace(0, len(images) - 1, min(shown, len(images))).round().astype(int))
  kept = {key: [] for key in keys}  # the reconstructions of images[shown_at]
  for i in range(0, len(codes), batch):
    chunk = codes[i:i + batch]
    n = len(chunk)
    padded = np.concatenate([chunk, np.zeros((batch - n,) + chunk.shape[1:], chunk.dtype)])
    out = jax.device_get(fn(variables, losses.dequantize(padded, None, phase.n_bits)))
    for key in sq:
      sq[key] += float(np.sum(np.square(out[key][:n] - images[i:i + n])))
      chosen = shown_at[(shown_at >= i) & (shown_at < i + n)] - i
      kept[key].append(out[key][chosen])
  first = {key: np.concatenate(parts) for key, parts in kept.items()}
  metrics = {f'rms_{key}': float(np.sqrt(total / images.size)) for key, total in sq.items()}
  rows = []
  inputs = images[shown_at]
  for start in range(0, len(shown_at), 8):
    rows += [inputs[start:start + 8]] + [first[k][start:start + 8] for k in keys]
  grid = images_lib.grid(np.concatenate(rows), 8)
  files_lib.write_png(files_lib.join(out_dir, 'reconstructions.png'), grid)
  return {**metrics, 'num_images': int(len(images)), 'figure': 'reconstructions.png'}, grid


def read_scalars(directory: str) -> dict[str, list[tuple[int, float]]]:
  """{tag: [(step, value)]} of the numeric scalars in directory's TensorBoard event files.

  Read by TensorBoard's own event-file loader (clu writes scalars as rank-0 tensors). A step
  logged twice (a run resumed from an earlier checkpoint) keeps the value written last, by the
  events' wall times: not by file names, whose writer counter sorts '10' before '9', and not by
  TensorBoard's EventAccumulator, which reads files in name order and purges on a step going back.
  """
  from tensorboard.backend.event_processing import event_file_loader
  from tensorboard.util import tensor_util
  latest: dict[str, dict[int, tuple[float, float]]] = {}  # tag -> step -> (wall time, value)
  with files_lib.local_copy(directory) as local:  # TensorBoard's reader cannot reach a bucket
    for name in files_lib.list_dir(local):  # sorted
      if '.tfevents.' not in name:
        continue
      for event in event_file_loader.EventFileLoader(files_lib.join(local, name)).Load():
        for value in event.summary.value:  # legacy simple_values arrive migrated to tensors
          if not value.HasField('tensor'):
            continue
          array = tensor_util.make_ndarray(value.tensor)
          if array.ndim == 0 and np.issubdtype(array.dtype, np.number):
            points = latest.setdefault(value.tag, {})
            step = int(event.step)
            if step not in points or event.wall_time >= points[step][0]:
              points[step] = (event.wall_time, float(array))
  return {tag: sorted((step, v) for step, (_, v) in points.items())
          for tag, points in latest.items()}


def training_curves(workdir: str, out_dir: str) -> str | None:
  """Plots train (and validation) bits/dim against step for every phase in workdir."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  curves = {}
  for name in files_lib.list_dir(workdir):
    if name not in phases.SPECS or not phases.SPECS[name].image_bpd:
      continue
    scalars = read_scalars(workdir_lib.phase_dir(workdir, name))
    for tag in ('train/bpd', 'validation/bpd'):
      if scalars.get(tag):
        curves[f'{name} {tag}'] = scalars[tag]
  if not curves:
    return None
  fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
  for label, points in curves.items():
    steps, values = zip(*points)
    ax.plot(steps, values, label=label)
  ax.set_xlabel('step (each phase counts from 0)')
  ax.set_ylabel('bits/dim (single-sample bound)')
  ax.legend(fontsize=8)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  path = files_lib.join(out_dir, 'training_curves.png')
  files_lib.write_figure(path, fig)
  plt.close(fig)
  return files_lib.basename(path)
