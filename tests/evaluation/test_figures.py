"""figures: scalars read back from clu's TensorBoard files, slerp, training curves."""

import jax
import numpy as np
import pytest
from clu import metric_writers
from PIL import Image

from vaeglow_jax.evaluation import figures


def _write(directory, points, images=False):
  writer = metric_writers.create_default_writer(str(directory), asynchronous=False)
  for step, value in points:
    writer.write_scalars(step, {'train/bpd': value, 'train/finite': 1})
  if images:
    writer.write_images(points[-1][0], {'samples': np.zeros((1, 4, 4, 1), np.uint8)})
  writer.flush()
  writer.close()


def test_read_scalars_after_a_resume_keeps_the_latest_value_per_step(tmp_path):
  phase_dir = tmp_path / 'vae'
  _write(phase_dir, [(1, 9.0), (2, 8.0), (3, 7.5)])
  _write(phase_dir, [(2, 8.125), (3, 7.375), (4, 7.0)], images=True)  # resumed from step 1
  scalars = figures.read_scalars(str(phase_dir))
  assert scalars['train/bpd'] == [(1, 9.0), (2, 8.125), (3, 7.375), (4, 7.0)]
  assert scalars['train/finite'] == [(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0)]
  assert 'samples' not in scalars  # images are not scalars


def test_read_scalars_takes_the_last_written_value_whatever_the_file_names(tmp_path):
  """The resumed run's file can sort first by name (TensorFlow's writer counter goes 9 -> 10 in
  one process and second): the later write still wins."""
  phase_dir = tmp_path / 'vae'
  _write(phase_dir, [(1, 9.0), (2, 8.0), (3, 7.5)])
  _write(phase_dir, [(2, 8.125), (3, 7.375), (4, 7.0)])
  first, second = sorted(p.name for p in phase_dir.iterdir())
  (phase_dir / first).rename(phase_dir / 'events.out.tfevents.2.host.1.9.v2')
  (phase_dir / second).rename(phase_dir / 'events.out.tfevents.2.host.1.10.v2')  # sorts first
  assert figures.read_scalars(str(phase_dir))['train/bpd'] == [(1, 9.0), (2, 8.125), (3, 7.375),
                                                                (4, 7.0)]


def test_training_curves_plot_image_phases_only(tmp_path):
  _write(tmp_path / 'vae', [(1, 9.0), (2, 8.0)])
  _write(tmp_path / 'second_stage', [(1, 0.5)])  # latent codes: not an image bits/dim
  assert figures.training_curves(str(tmp_path / 'empty_run_does_not_exist'), str(tmp_path)) is None
  name = figures.training_curves(str(tmp_path), str(tmp_path))
  assert name == 'training_curves.png'
  assert Image.open(tmp_path / name).size == (600, 400)


def test_slerp_keeps_the_norm_and_ends_at_both_points():
  a, b = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 64))
  path = figures.slerp(a, b, 5)
  assert path.shape == (5, 3, 64)
  np.testing.assert_allclose(path[0], a, atol=1e-5)
  np.testing.assert_allclose(path[-1], b, atol=1e-5)
  # Between two vectors of equal norm, every point keeps that norm (a straight line would not).
  b_scaled = b / np.linalg.norm(b, axis=-1, keepdims=True) * np.linalg.norm(a, axis=-1, keepdims=True)
  norms = np.linalg.norm(figures.slerp(a, b_scaled, 7), axis=-1)
  np.testing.assert_allclose(norms, np.broadcast_to(np.linalg.norm(a, axis=-1), norms.shape), rtol=1e-4)


class _MirrorPhase:
  """A stand-in phase whose 'reconstruction' is known: the decoder mean is the input (its bin
  centre), the Glow layer's output its negative 1 - x."""
  n_bits = 8

  class spec:  # noqa: N801
    use_glow = True

  @staticmethod
  def reconstruct(variables, x):
    del variables
    return {'decoder_mean': x, 'x': 1.0 - x}


def test_reconstructions_report_the_error_per_pixel_and_show_inputs_over_their_outputs(tmp_path):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (20, 4, 4, 1)).astype(np.float32) / 255.0
  metrics, grid = figures.reconstructions(_MirrorPhase(), None, images, 8, str(tmp_path))
  centres = (np.round(images * 255) + 0.5) / 256
  assert metrics['num_images'] == 20
  assert metrics['rms_decoder_mean'] == pytest.approx(np.sqrt(np.mean((centres - images) ** 2)))
  assert metrics['rms_x'] == pytest.approx(np.sqrt(np.mean((1 - centres - images) ** 2)))
  # 16 shown, evenly spaced over the 20 (0, 1, 3, ..., 19): two blocks of (inputs, decoder
  # means, Glow outputs), each a row of 8.
  shown = np.linspace(0, 19, 16).round().astype(int)
  images, centres = images[shown], centres[shown]
  assert grid.shape == (6 * 4, 8 * 4, 1)
  saved = np.asarray(Image.open(tmp_path / 'reconstructions.png'))
  np.testing.assert_array_equal(saved.reshape(grid.shape), grid)
  block = lambda row, i: grid[row * 4:(row + 1) * 4, i * 4:(i + 1) * 4]  # noqa: E731
  for i in range(8):
    np.testing.assert_array_equal(block(0, i), np.round(images[i] * 255).astype(np.uint8))
    np.testing.assert_array_equal(block(3, i), np.round(images[8 + i] * 255).astype(np.uint8))
    np.testing.assert_array_equal(block(5, i), np.round((1 - centres[8 + i]) * 255).astype(np.uint8))
