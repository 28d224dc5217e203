"""The Inception port and the weight converter against pytorch-fid itself, end to end.

pytorch-fid's FID network is built with random weights (nothing is downloaded:
its weight loader is patched to return a state dict seeded here), saved as a
.pth, converted by `experiments.convert_inception_weights`, and loaded by
`vaeglow_jax.evaluation.metrics.inception`. The same images, written as PNG files and read
by pytorch-fid's own pipeline (PIL RGB conversion, ToTensor, bilinear resize to
299, scaling to [-1, 1]), must give the same pool3 features, the same Gaussian statistics
and, from them, the same Frechet distance.
This covers the architecture (padding, pooling, the FID blocks), the weight
layouts, resizing, grey-to-RGB and scaling. Needs torch, torchvision and
pytorch-fid (requirements.txt; setup.cfg extra 'bench').
"""

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip('torch')
from tests.helpers import import_torchvision  # noqa: E402

torchvision = import_torchvision()
fid_score = pytest.importorskip('pytorch_fid.fid_score')
pytorch_fid_inception = pytest.importorskip('pytorch_fid.inception')

from PIL import Image  # noqa: E402

from vaeglow_jax.evaluation.metrics import fid, inception  # noqa: E402

pytestmark = pytest.mark.slow
from tests.helpers import ROOT  # noqa: E402
SHAPES = [(28, 28, 1), (32, 32, 3), (64, 64, 3)]
# The Frechet distance is compared at one shape: the formula does not depend on it. The other
# shapes compare features only, of fewer images (each a forward pass of Inception at 299x299 in
# both frameworks).
FID_SHAPE = (32, 32, 3)
FID_IMAGES_PER_SET = 12
FEATURE_IMAGES_PER_SET = 4
# pytorch-fid's Frechet distance is compared with ours on the first FRECHET_DIMS pool3 features
# of its own statistics: its 2048x2048 scipy sqrtm costs 11 s a call on 2 cores (two thirds of
# this test's time), and the pipeline up to the statistics is compared at all 2048. With 12
# images per set both covariances are singular, as in any FID of fewer samples than features.
FRECHET_DIMS = 64


def _random_fid_state_dict(seed: int) -> dict:
  """A state dict for pytorch-fid's FID Inception: He-normal convolutions and BatchNorm
  statistics and affine parameters far from the identity, so that a swapped mean/var or
  weight/bias, or a transposed kernel, changes the features."""
  generator = torch.Generator().manual_seed(seed)
  # torchvision's Inception-v3 with pytorch-fid's head has the FID network's names and shapes
  # (pytorch-fid's FID blocks subclass torchvision's, changing only their forward passes).
  template = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None,
                                             init_weights=False).state_dict()
  state = {}
  for name, value in template.items():
    shape = value.shape
    if name.endswith('num_batches_tracked'):
      state[name] = value
    elif value.ndim == 4:
      fan_in = shape[1] * shape[2] * shape[3]
      state[name] = torch.randn(shape, generator=generator) * (2.0 / fan_in) ** 0.5
    elif name.endswith(('running_var', 'bn.weight')):
      state[name] = 0.5 + torch.rand(shape, generator=generator)
    else:  # BatchNorm bias and running mean; the unused fc layer
      state[name] = 0.1 * torch.randn(shape, generator=generator)
  return state


def _smooth_images(rng, count, shape):
  """uint8 images with structure at several scales (resizing matters), not white noise."""
  h, w, c = shape
  coarse = rng.uniform(size=(count, 4, 4, c))
  up = np.kron(coarse, np.ones((1, h // 4, w // 4, 1)))
  return np.clip(255 * (0.7 * up + 0.3 * rng.uniform(size=(count, h, w, c))), 0, 255).astype(np.uint8)


def _write_pngs(images, directory):
  os.makedirs(directory)
  for i, image in enumerate(images):
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
        os.path.join(directory, f'{i:03d}.png'))


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
  """(state dict, path of the converted .npz)."""
  root = tmp_path_factory.mktemp('inception')
  state = _random_fid_state_dict(seed=0)
  torch.save(state, root / 'fid_random.pth')
  out = root / 'fid_random.npz'
  result = subprocess.run([sys.executable, '-m', 'experiments.convert_inception_weights',
                           f'--pth={root / "fid_random.pth"}', f'--out={out}'],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  return state, str(out)


@pytest.fixture
def pytorch_fid_offline(monkeypatch, weights):
  """pytorch-fid's loader returns the seeded state dict instead of downloading."""
  state, _ = weights
  monkeypatch.setattr(pytorch_fid_inception, 'load_state_dict_from_url',
                      lambda *args, **kwargs: {k: v.clone() for k, v in state.items()})


@pytest.mark.parametrize('shape', SHAPES, ids=lambda s: 'x'.join(map(str, s)))
def test_features_and_fid_agree_with_pytorch_fid(shape, weights, pytorch_fid_offline, tmp_path,
                                                 monkeypatch):
  _, npz = weights
  params = inception.load_params(npz)
  rng = np.random.default_rng(sum(shape))
  count = FID_IMAGES_PER_SET if shape == FID_SHAPE else FEATURE_IMAGES_PER_SET
  set_a = _smooth_images(rng, count, shape)
  set_b = np.clip(set_a.astype(int) + rng.integers(-40, 40, size=set_a.shape), 0, 255).astype(np.uint8)
  dirs = [str(tmp_path / 'a'), str(tmp_path / 'b')]
  for images, directory in zip((set_a, set_b), dirs):
    _write_pngs(images, directory)

  # One pass of pytorch-fid's own pipeline; its activations and the statistics it hands to its
  # Frechet distance are recorded on the way.
  activations, their_stats = [], []
  original_get_activations = fid_score.get_activations
  frechet_distance = fid_score.calculate_frechet_distance

  def recording_get_activations(*args, **kwargs):
    activations.append(original_get_activations(*args, **kwargs))
    return activations[-1]

  def recording_frechet_distance(mu1, sigma1, mu2, sigma2):
    their_stats.extend([(mu1, sigma1), (mu2, sigma2)])
    return float('nan')

  monkeypatch.setattr(fid_score, 'get_activations', recording_get_activations)
  monkeypatch.setattr(fid_score, 'calculate_frechet_distance', recording_frechet_distance)
  fid_score.calculate_fid_given_paths(dirs, count, 'cpu', 2048, num_workers=0)
  assert len(activations) == 2 and len(their_stats) == 2

  ours = [np.asarray(inception.features(params, images.astype(np.float32) / 255.0), np.float64)
          for images in (set_a, set_b)]
  scale = np.abs(activations[0]).max()
  assert scale > 0.1  # the features are not degenerate
  for mine, theirs in zip(ours, activations):
    np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4 * scale)
  if shape != FID_SHAPE:
    return
  our_stats = [fid.feature_stats(features) for features in ours]
  for mine, (mu, sigma) in zip(our_stats, their_stats):
    np.testing.assert_allclose(mine.mean, mu, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(mine.cov, sigma, rtol=1e-3, atol=1e-4 * scale ** 2)
  d = FRECHET_DIMS
  (mu_a, sigma_a), (mu_b, sigma_b) = their_stats
  their_fid = frechet_distance(mu_a[:d], sigma_a[:d, :d], mu_b[:d], sigma_b[:d, :d])
  our_fid = fid.fid_from_features(ours[0][:, :d], ours[1][:, :d])
  assert their_fid > 1e-3 * scale ** 2  # the two sets differ
  np.testing.assert_allclose(our_fid, their_fid, rtol=1e-3)
