"""The Inception-v3 port: shapes on random weights, and a save-then-load round trip."""

import jax
import numpy as np
import pytest

from vaeglow_jax.evaluation.metrics import inception

SIZE = 75  # the smallest input the network takes; FID itself uses 299


@pytest.fixture(scope='module')
def params():
  return inception.random_params(jax.random.PRNGKey(0), SIZE)


def test_parameter_count_is_the_fid_inception_without_classifier(params):
  # pytorch-fid's FIDInceptionV3 has 23,885,392 parameters with the 2048x1008 fc layer
  # (2,065,392 of them) that FID does not use; BatchNorm statistics count here as arrays.
  count = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
  assert count == 21_820_000


def test_features_shapes_and_saved_then_loaded_weights_give_identical_features(params, tmp_path):
  rng = np.random.default_rng(0)
  grey = rng.uniform(size=(2, 28, 28, 1)).astype(np.float32)
  rgb = np.repeat(grey, 3, axis=-1)
  features = np.asarray(inception.features(params, grey, resize_to=SIZE))
  assert features.shape == (2, inception.FEATURE_DIM)
  assert np.all(np.isfinite(features)) and np.all(features >= 0)  # after ReLU and mean pooling
  # Grey images are repeated to RGB, exactly.
  np.testing.assert_array_equal(features, np.asarray(inception.features(params, rgb, resize_to=SIZE)))
  # Different images give different features.
  assert not np.allclose(features[0], features[1])

  path = str(tmp_path / 'weights.npz')
  inception.save_params(params, path)
  with np.load(path) as f:  # PyTorch names and layouts
    assert f['Conv2d_1a_3x3.conv.weight'].shape == (32, 3, 3, 3)
    assert f['Mixed_7c.branch_pool.bn.running_var'].shape == (192,)
  loaded = inception.load_params(path)
  np.testing.assert_array_equal(
      features, np.asarray(inception.features(loaded, grey, resize_to=SIZE)))


def test_missing_or_wrong_weights_file_is_a_clear_error(tmp_path):
  with pytest.raises(inception.InceptionWeightsError, match='not found'):
    inception.load_params(str(tmp_path / 'nope.npz'))
  wrong = tmp_path / 'wrong.npz'
  np.savez(wrong, **{'Conv2d_1a_3x3.conv.weight': np.zeros((32, 3, 5, 5), np.float32)})
  with pytest.raises(inception.InceptionWeightsError,
                     match=r'Conv2d_1a_3x3.conv.weight has shape \(32, 3, 5, 5\), expected \(32, 3, 3, 3\)'):
    inception.load_params(str(wrong))
  other = tmp_path / 'other.npz'
  np.savez(other, fc=np.zeros(3))
  with pytest.raises(inception.InceptionWeightsError, match='lacks Conv2d_1a_3x3.bn.bias'):
    inception.load_params(str(other))
  garbage = tmp_path / 'garbage.npz'
  garbage.write_bytes(b'not a zip')
  with pytest.raises(inception.InceptionWeightsError, match='not a readable .npz'):
    inception.load_params(str(garbage))
