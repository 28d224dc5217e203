"""Your own images as a dataset (vaeglow_jax.image_folder, data.name='image_folder')."""

import os

import numpy as np
import pytest
from PIL import Image

from tests.configs import tiny
from vaeglow_jax import data as data_lib
from vaeglow_jax import image_folder


def _write(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(path)


def _config(folder, resize=8):
  c = tiny.get_config().data
  c.name, c.folder, c.resize = 'image_folder', str(folder), resize
  return c


@pytest.fixture(scope='module')
def classes(tmp_path_factory):
  """Two classes of 30 RGB images each, 12 wide and 8 high: a bright class and a dark one, each
  with 2-pixel side bands of another value that the center crop removes."""
  root = tmp_path_factory.mktemp('classes')
  rng = np.random.default_rng(0)
  for label, (low, high) in enumerate(((150, 255), (0, 100))):
    for i in range(30):
      image = rng.integers(low, high, (8, 12, 3)).astype(np.uint8)
      image[:, :2] = image[:, -2:] = 7
      _write(str(root / f'class_{label}' / f'{i:03d}.{"png" if i % 3 else "jpg"}'), image)
  return root


def test_class_subfolders_give_labels_and_a_fixed_split_of_every_file(classes):
  folder = image_folder.scan(str(classes), 8)
  assert folder.image_shape == (8, 8, 3) and folder.class_names == ('class_0', 'class_1')
  assert sorted(set(folder.splits)) == ['test', 'train', 'validation']
  assert sum(len(folder.files(s)[0]) for s in image_folder.SPLITS) == 60
  # The split is a function of each file's path only: the same in a copy elsewhere.
  for path, split in zip(folder.paths, folder.splits):
    assert image_folder.split_of(os.path.relpath(path, classes)) == split
  images, labels = data_lib.labeled_arrays(_config(classes), 'train')
  assert images.dtype == np.uint8 and images.shape[1:] == (8, 8, 3)
  train = len(folder.files('train')[0])
  assert len(images) == train == data_lib.num_examples(_config(classes), 'train')
  # Labels follow the subfolders: the bright class is 0 (PNG pixels; JPEG moves them a little).
  means = images.reshape(len(images), -1).mean(-1)
  assert np.all(means[labels == 0] > 140) and np.all(means[labels == 1] < 70)


def test_images_are_center_cropped_then_area_resized(tmp_path):
  image = np.zeros((8, 16, 1), np.uint8)
  image[:, 4:12, 0] = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3  # the center square
  for i in range(40):  # enough files that every split has some
    _write(str(tmp_path / f'{i:02d}.png'), image)
  config = _config(tmp_path, resize=4)
  assert data_lib.image_shape(config) == (4, 4, 1)
  got = next(data_lib.eval_iterator(config, 'test', 1))[0][0]
  center = image[:, 4:12, 0].astype(np.float64)
  expected = center.reshape(4, 2, 4, 2).mean((1, 3))  # area averaging of 2x2 blocks
  np.testing.assert_array_equal(got[..., 0], np.round(expected).astype(np.uint8))


def test_one_size_is_kept_without_a_resize_and_grayscale_stays_one_channel(tmp_path):
  for i in range(20):
    _write(str(tmp_path / f'{i}.png'), np.full((6, 10, 1), i, np.uint8))
  config = _config(tmp_path, resize=0)
  assert data_lib.image_shape(config) == (6, 10, 1)
  with pytest.raises(data_lib.DataError, match='no class labels'):
    data_lib.labeled_arrays(config, 'train')


@pytest.mark.parametrize('make, error', [
    (lambda root: None, 'no PNG or JPEG images in'),
    (lambda root: [_write(str(root / f'{i}.png'), np.zeros((4 + i % 2, 4, 1), np.uint8))
                   for i in range(4)],
     r'have 2 sizes \(4x4, 4x5, ...\); set --config.data.resize=N'),
    (lambda root: (root / 'broken.png').write_bytes(b'not an image'), r'cannot read .*broken.png'),
    (lambda root: (_write(str(root / 'a.png'), np.zeros((4, 4, 1), np.uint8)),
                   _write(str(root / 'cls' / 'b.png'), np.zeros((4, 4, 1), np.uint8))),
     'both in it and in subfolders'),
])
def test_a_bad_folder_is_one_clear_error(tmp_path, make, error):
  make(tmp_path)
  with pytest.raises(image_folder.ImageFolderError, match=error):
    data_lib.image_shape(_config(tmp_path, resize=0))


def test_a_missing_folder_setting_or_path_is_one_clear_error(tmp_path):
  with pytest.raises(image_folder.ImageFolderError, match='needs --config.data.folder=PATH'):
    data_lib.image_shape(_config(''))
  with pytest.raises(image_folder.ImageFolderError, match='is not a folder'):
    data_lib.image_shape(_config(tmp_path / 'nowhere'))

def test_the_summary_counts_images_splits_conversions_and_skipped_files(tmp_path):
  """RGB, RGBA and grayscale files together: the folder is RGB, the alpha channel is dropped (the
  pixels are the RGB ones, not composited), grayscale is repeated; a .txt and .DS_Store are
  skipped; the one summary line says so, with the split sizes."""
  rgb = np.full((4, 4, 3), (200, 100, 50), np.uint8)
  for i in range(20):
    _write(str(tmp_path / f'rgb{i:02d}.png'), rgb)
  rgba = np.concatenate([rgb, np.zeros((4, 4, 1), np.uint8)], -1)  # fully transparent
  for i in range(3):
    Image.fromarray(rgba, 'RGBA').save(tmp_path / f'alpha{i}.png')
  for i in range(2):
    _write(str(tmp_path / f'gray{i}.png'), np.full((4, 4, 1), 90, np.uint8))
  (tmp_path / 'notes.txt').write_text('not an image')
  (tmp_path / '.DS_Store').write_bytes(b'\0\0')
  folder = image_folder.scan(str(tmp_path), 0)
  assert folder.image_shape == (4, 4, 3) and len(folder.paths) == 25
  counts = {split: folder.splits.count(split) for split in image_folder.SPLITS}
  assert sum(counts.values()) == 25
  assert folder.summary() == (
      f'image folder {tmp_path}: 25 images, no classes; {counts["train"]} train / '
      f'{counts["validation"]} validation / {counts["test"]} test; 4x4x3; converted: 3 with an '
      'alpha channel (dropped), 2 grayscale (repeated over RGB); skipped: 2 files not PNG or '
      'JPEG (.DS_Store, .txt)')
  assert data_lib.describe(_config(tmp_path, resize=0)) == folder.summary()
  # What the pipeline yields: the RGB of the transparent images, gray repeated over RGB.
  config = _config(tmp_path, resize=0)
  pixels = {}
  for split in image_folder.SPLITS:
    paths, _ = folder.files(split)
    for path, batch in zip(paths, data_lib.eval_iterator(config, split, 1)):
      pixels[os.path.basename(path)] = batch[0][0]
  for name, image in pixels.items():
    expected = (90, 90, 90) if name.startswith('gray') else (200, 100, 50)
    assert (image.reshape(-1, 3) == expected).all(), name


@pytest.mark.slow
def test_a_tiny_run_on_an_image_folder_trains_evaluates_and_samples(classes, tmp_path):
  import json
  import vaeglow_jax
  from vaeglow_jax.evaluation import evaluator
  from vaeglow_jax.training import feature_extractor, trainer

  def config(phase):
    c = tiny.get_config()
    c.phase, c.num_devices = phase, 1
    c.data.name, c.data.folder = 'image_folder', str(classes)
    return c

  run = str(tmp_path / 'run')
  for phase in ('vae', 'glow'):
    trainer.train_and_evaluate(config(phase), run)
  # The class subfolders train the FID classifier: bright against dark is easy.
  feature_extractor.train(config('vae'), str(tmp_path / 'features'), log=lambda *_: None)
  info = json.loads((tmp_path / 'features' / 'feature_extractor.json').read_text())
  assert info['dataset'] == 'image_folder' and info['num_classes'] == 2
  assert info['test_accuracy'] == 1.0 and info['image_shape'] == [8, 8, 3]
  metrics = evaluator.evaluate(config('glow'), run, log=lambda *_: None)
  assert metrics['dataset'] == 'image_folder' and np.isfinite(metrics['test_bpd_iw'])
  assert metrics['reconstruction']['num_images'] == metrics['num_test_examples'] > 0
  assert (tmp_path / 'run' / 'eval' / 'glow' / 'reconstructions.png').is_file()
  assert vaeglow_jax.load(run, num_devices=1).sample(4).shape == (4, 8, 8, 3)
