"""FID calibration: the perturbations against independent references, and the command end to end."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.ndimage

from tests.helpers import snapshot
from vaeglow_jax.evaluation import calibration

from tests.helpers import ROOT  # noqa: E402


@pytest.mark.parametrize('sigma', [0.5, 1.0, 1.5, 2.0])
def test_blur_is_scipys_gaussian_filter_with_mirrored_borders(sigma):
  images = np.random.default_rng(0).uniform(size=(2, 17, 13, 3))
  expected = scipy.ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0), mode='reflect',
                                           truncate=3.0)
  np.testing.assert_allclose(calibration.gaussian_blur(images, sigma), expected, atol=1e-12)


def test_blur_spreads_a_point_by_sigma_and_keeps_its_mass():
  delta = np.zeros((1, 41, 41, 1))
  delta[0, 20, 20, 0] = 1.0
  out = calibration.gaussian_blur(delta, 2.0)[0, :, :, 0]
  assert out.sum() == pytest.approx(1.0)
  offsets = np.arange(41) - 20
  assert (out.sum(0) * offsets ** 2).sum() == pytest.approx(4.0, rel=0.02)  # truncated at 3 sigma


def test_noise_has_the_requested_standard_deviation():
  images = np.full((10, 28, 28, 1), 0.5)
  noisy = calibration.add_noise(images, 0.1, np.random.default_rng(0))
  assert np.std(noisy - images) == pytest.approx(0.1, rel=0.02)


def test_class_subsets_hold_only_kept_classes_without_repeats():
  labels = np.repeat(np.arange(5), 4)  # 4 images per class
  order = np.random.default_rng(0).permutation(len(labels))
  two = calibration.class_subset(order, labels, np.array([3, 1]), 6)
  assert set(labels[two]) == {1, 3} and len(set(two)) == 6
  # Only 8 images in the two classes: fewer than asked, none repeated.
  assert len(calibration.class_subset(order, labels, np.array([3, 1]), 20)) == 8
  # All classes kept: the first images of the order, as the floor uses them.
  np.testing.assert_array_equal(calibration.class_subset(order, labels, np.arange(5), 7), order[:7])


@pytest.fixture(scope='module')
def tiny_feature_extractor(tiny_run):
  """conftest's tiny feature extractor (read only: calibration writes into its own work
  directory)."""
  return tiny_run[1]


def _run(workdir, *flags):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.fid_calibration',
       '--config=tests/configs/tiny.py', f'--workdir={workdir}', *flags],
      cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_calibration_command_writes_every_curve(tiny_feature_extractor, tmp_path):
  workdir = tmp_path / 'out'
  result = _run(workdir, f'--config.eval.feature_extractor_dir={tiny_feature_extractor}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'fashion_mnist: floor FID' in result.stdout
  with open(workdir / calibration.RESULT_FILE) as f:
    saved = json.load(f)
  assert os.path.isfile(workdir / calibration.FIGURE_FILE)
  rows = {(r['family'], r['level']): r for r in saved['spaces']['fashion_mnist']['rows']}
  assert set(rows) == {('floor', 0.0), ('blur', 1.0), ('blur', 2.0), ('noise', 0.05),
                       ('noise', 0.2), ('classes', 10.0), ('classes', 2.0), ('count', 16.0)}
  floor = rows[('floor', 0.0)]
  # Keeping all 10 classes draws exactly the floor's images, so every score is the floor's.
  for key in ('fid', 'kid', 'kid_se', 'precision', 'recall'):
    assert rows[('classes', 10.0)][key] == floor[key]
  assert floor['pixel_rmse'] == 0.0
  assert rows[('blur', 1.0)]['pixel_rmse'] < rows[('blur', 2.0)]['pixel_rmse']
  assert rows[('noise', 0.05)]['pixel_rmse'] < rows[('noise', 0.2)]['pixel_rmse']
  assert len(saved['kept_classes']['2']) == 2 and saved['num_images'] == 48
  assert rows[('count', 16.0)]['num_images'] == 16 and rows[('count', 16.0)]['pixel_rmse'] is None
  assert 'fid_inception' in saved['notes']
  summary = saved['spaces']['fashion_mnist']['summary']
  assert summary['noise_over_blur_at_equal_rmse'] > 0 and summary['noise_over_blur_at_equal_rmse_kid'] > 0


@pytest.mark.slow
def test_calibration_without_a_feature_space_is_one_line_and_writes_nothing(tmp_path):
  workdir = tmp_path / 'out'
  workdir.mkdir()
  before = snapshot(str(workdir))
  result = _run(workdir)
  assert result.returncode == 2
  errors = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(errors) == 1 and 'no feature space to calibrate' in errors[0]
  assert 'Traceback' not in result.stderr
  assert snapshot(str(workdir)) == before
