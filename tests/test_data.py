"""Input pipelines under tfds.testing.mock_data, and clear errors for bad datasets."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from experiments.configs import celeba, cifar10, fashion_mnist
from tests.configs import tiny
from vaeglow_jax import data


def _mocked(config):
  config.data.allow_download = True  # under mock_data, "download" is a no-op
  config.data.data_dir = '/tmp/vaeglow_mock_tfds_unused'
  return config


@pytest.mark.parametrize('get_config,shape', [
    (cifar10.get_config, (32, 32, 3)), (celeba.get_config, (64, 64, 3)),
    (fashion_mnist.get_config, (28, 28, 1))])
def test_pipelines_run_under_mock_data(get_config, shape):
  config = _mocked(get_config())
  with tfds.testing.mock_data(num_examples=20):
    assert data.image_shape(config.data) == shape
    batch = next(data.train_iterator(config.data, 8, seed=0))
    assert batch.shape == (8,) + shape and batch.dtype == np.uint8
    masks = [m for _, m in data.eval_iterator(config.data, 'test', 8)]
    assert sum(int(m.sum()) for m in masks) == 20  # every example once, padding masked
    assert all(m.shape == (8,) for m in masks)


def test_train_iterator_is_deterministic_and_resumable():
  config = _mocked(tiny.get_config())
  with tfds.testing.mock_data(num_examples=24):
    straight = data.train_iterator(config.data, 8, seed=3)
    batches = [next(straight) for _ in range(5)]
    resumed = data.train_iterator(config.data, 8, seed=3, start_step=3)
    np.testing.assert_array_equal(next(resumed), batches[3])
    other_seed = next(data.train_iterator(config.data, 8, seed=4))
    assert not np.array_equal(other_seed, batches[0])
    assert batches[0].shape == (8, 8, 8, 1)  # the tiny config resizes to 8x8


@pytest.mark.parametrize('max_examples', [None, 13])
def test_eval_iterator_gives_every_example_once_across_processes(monkeypatch, max_examples):
  """2 processes (faked): each keeps its half of every global batch; together, with the
  padding masked out, they are the split in order, and the padding is zero images."""
  config = _mocked(tiny.get_config())
  with tfds.testing.mock_data(num_examples=20):
    whole = np.concatenate([x for x, _ in data.eval_iterator(config.data, 'test', 20)])
    expected = whole[:max_examples] if max_examples else whole
    monkeypatch.setattr(data.jax, 'process_count', lambda: 2)
    per_process = []
    for index in (0, 1):
      monkeypatch.setattr(data.jax, 'process_index', lambda index=index: index)
      per_process.append(list(data.eval_iterator(config.data, 'test', 8, max_examples)))
  assert len(per_process[0]) == len(per_process[1]) == -(-len(expected) // 8)
  images, masks = [], []
  for batch_0, batch_1 in zip(*per_process):
    for images_part, mask_part in (batch_0, batch_1):
      assert images_part.shape == (4, 8, 8, 1) and mask_part.shape == (4,)
      images.append(images_part)
      masks.append(mask_part)
  images, masks = np.concatenate(images), np.concatenate(masks)
  np.testing.assert_array_equal(images[masks], expected)
  assert not masks[len(expected):].any() and masks[:len(expected)].all()
  assert not images[~masks].any()
  assert len(np.unique(expected.reshape(len(expected), -1), axis=0)) == len(expected)


def test_unknown_dataset_is_a_clear_error():
  config = tiny.get_config()
  config.data.name = 'imagenet64'
  with pytest.raises(data.DataError, match="unknown dataset 'imagenet64'"):
    data.image_shape(config.data)


def test_unavailable_dataset_says_how_to_get_it(tmp_path):
  config = cifar10.get_config()
  config.data.data_dir = str(tmp_path)
  (tmp_path / 'other_dataset.txt').write_text('kept')
  with pytest.raises(data.DataError, match='tfds build cifar10'):
    data.num_examples(config.data, 'train')
  # The failed lookup leaves the data directory exactly as it was: no empty dataset folders.
  assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob('*')) == ['other_dataset.txt']
  assert (tmp_path / 'other_dataset.txt').read_text() == 'kept'
