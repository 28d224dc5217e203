"""Input pipelines: TFDS + tf.data, uint8 images out, dequantisation happens on device.

Splits: training uses `train_split`, early stopping `validation_split` (carved
from the TFDS train split), evaluation only `test_split`. Batches are numpy
uint8 (local_batch, H, W, C); each process reads its own shard.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import jax
import numpy as np

from vaeglow_jax.errors import UserError
from vaeglow_jax.io import files as files_lib

FASHION_MNIST_DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  tfds_name: str
  image_shape: tuple[int, int, int]
  train_split: str
  validation_split: str
  test_split: str
  how_to_get: str
  manual_dir: str | None = None
  celeba_crop: bool = False


DATASETS = {
    'fashion_mnist': DatasetSpec(
        'fashion_mnist', (28, 28, 1), 'train[:55000]', 'train[55000:]', 'test',
        'install the offline files with `apt-get install dataset-fashion-mnist` (as root), '
        'or let TFDS download it on a machine with internet',
        manual_dir=FASHION_MNIST_DEBIAN_DIR),
    'mnist': DatasetSpec('mnist', (28, 28, 1), 'train[:55000]', 'train[55000:]', 'test',
                         'TFDS downloads it on a machine with internet (`tfds build mnist`)'),
    'cifar10': DatasetSpec('cifar10', (32, 32, 3), 'train[:45000]', 'train[45000:]', 'test',
                           'TFDS downloads it on a machine with internet (`tfds build cifar10`)'),
    'celeba': DatasetSpec('celeb_a', (64, 64, 3), 'train', 'validation', 'test',
                          'TFDS downloads it on a machine with internet (`tfds build celeb_a`)',
                          celeba_crop=True),
}


class DataError(UserError, ValueError):
  """A dataset that is unknown or not available; the message says how to fix it."""


# One's own images (vaeglow_jax.image_folder): its shape comes from the folder.
IMAGE_FOLDER = 'image_folder'
_FOLDER_SPEC = DatasetSpec(IMAGE_FOLDER, (0, 0, 0), 'train', 'validation', 'test',
                           'set --config.data.folder=PATH to a folder of PNG or JPEG images')


def get_spec(name: str) -> DatasetSpec:
  if name == IMAGE_FOLDER:
    return _FOLDER_SPEC
  if name not in DATASETS:
    raise DataError(f'unknown dataset {name!r}; choose one of {sorted(DATASETS)}, or '
                    f'{IMAGE_FOLDER!r} with --config.data.folder=PATH for your own images.')
  return DATASETS[name]


def _folder(data_config):
  from vaeglow_jax import image_folder
  return image_folder.scan(data_config.get('folder', ''), int(data_config.get('resize') or 0),
                           data_config.get('cache_dir') or '')


def describe(data_config) -> str | None:
  """One line about what the data is made of, for the log: an image folder's summary (images,
  classes, splits, shape, conversions, skipped files); None for a TFDS dataset."""
  return _folder(data_config).summary() if data_config.name == IMAGE_FOLDER else None


def image_shape(data_config) -> tuple[int, int, int]:
  """(H, W, C) of the images the pipeline yields (after the optional resize)."""
  if data_config.name == IMAGE_FOLDER:
    return _folder(data_config).image_shape
  return resized_shape(data_config.name, data_config.get('resize'))


def resized_shape(name: str, resize: int | None) -> tuple[int, int, int]:
  """(H, W, C) of dataset `name`'s images, resized to resize x resize if resize is set."""
  height, width, channels = get_spec(name).image_shape
  if resize:
    height = width = int(resize)
  return (height, width, channels)


def local_data_dir(data_config) -> str | None:
  """The TFDS data_dir to read: data.data_dir, or for a gs:// data_dir a local copy of its
  prepared dataset folder (data_dir/<tfds name>/), made once per machine and per version of the
  bucket's files in data.cache_dir (workdir.cached_copy: a dataset prepared anew in the bucket is
  copied anew). With data.per_process_files, the copy holds only this process's share of the
  training split's record files (and every other file).

  TFDS would read a bucket's records through TensorFlow's GCS client, whose endpoint cannot be
  changed (so no emulator could stand in for the bucket in tests); the copy goes through the
  work-directory module's client instead."""
  data_dir = data_config.get('data_dir') or None
  if data_dir is None or files_lib.is_local(data_dir):
    return data_dir
  name = get_spec(data_config.name).tfds_name
  source = files_lib.join(data_dir, name)
  try:
    keep = _own_files_only(data_config, source) if _per_process(data_config) else None
    return files_lib.dirname(files_lib.cached_copy(source, data_config.get('cache_dir') or None,
                                                       keep=keep))
  except FileNotFoundError:
    raise DataError(f'no prepared {name!r} in {data_dir} ({source} is missing); prepare it on one '
                    f'machine (a run with a local --config.data.data_dir) and copy that folder\'s '
                    f'{name}/ there (gcloud storage cp -r).') from None


def _per_process(data_config) -> bool:
  return bool(data_config.get('per_process_files', False)) and jax.process_count() > 1


def _share(split: str) -> str:
  """This process's share of `split` (tfds.split_for_jax_process): contiguous, disjoint."""
  import tensorflow_datasets as tfds
  return tfds.split_for_jax_process(split)


def _own_files_only(data_config, source: str):
  """keep(relative path) for workdir.cached_copy: False for the training split's record files
  outside this process's share, read from the bucket's dataset_info.json."""
  import tensorflow_datasets as tfds
  versions = [v for v in files_lib.list_dir(source)
              if files_lib.is_file(files_lib.join(source, v, 'dataset_info.json'))]
  if not versions:
    raise FileNotFoundError(source)
  info_dir = files_lib.join(source, max(versions, key=tfds.core.Version))
  builder = tfds.builder_from_directory(info_dir)
  own = {files_lib.basename(str(f.filename))
         for f in builder.info.splits[_share(_split_name(data_config, 'train'))].file_instructions}
  train_files = f'{builder.name}-{_split_name(data_config, "train").split("[")[0]}.'
  return lambda relative: (train_files not in files_lib.basename(relative) or
                           files_lib.basename(relative) in own)


def _builder(data_config):
  import tensorflow_datasets as tfds
  spec = get_spec(data_config.name)
  data_dir = local_data_dir(data_config)
  builder = tfds.builder(spec.tfds_name, data_dir=data_dir)
  if builder.is_prepared():
    return builder
  manual_dir = spec.manual_dir
  if manual_dir and files_lib.is_dir(manual_dir):
    # Debian recompressed the original files, so TFDS's registered checksums differ.
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=manual_dir, register_checksums=True))
    return builder
  if data_config.get('allow_download', False):
    builder.download_and_prepare()
    return builder
  raise DataError(
      f'dataset {data_config.name!r} is not prepared in {builder.data_dir!r} and cannot be '
      f'built offline here: {spec.how_to_get}; or pass --config.data.allow_download=True.')


def _preprocess(spec: DatasetSpec, resize: int | None, labeled: bool = False):
  import tensorflow as tf

  def fn(example):
    image = example['image']
    if spec.celeba_crop:
      # Dai & Wipf: crop [45:173, 25:153] (128x128), then resize to 64x64.
      image = tf.image.resize(image[45:173, 25:153, :], (64, 64), method='bilinear', antialias=True)
      image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    if resize:
      image = tf.image.resize(image, (resize, resize), method='area')
      image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return (image, example['label']) if labeled else image
  return fn


def _dataset(data_config, split: str, labeled: bool = False, shard: bool = True):
  import tensorflow as tf
  tf.config.set_visible_devices([], 'GPU')  # tf.data must not grab accelerator memory.
  if data_config.name == IMAGE_FOLDER:
    return _folder_dataset(data_config, split, labeled, shard)
  spec = get_spec(data_config.name)
  builder = _builder(data_config)
  ds = builder.as_dataset(split=split, shuffle_files=False)
  if labeled and 'label' not in builder.info.features:
    raise DataError(f'dataset {data_config.name!r} has no class labels; the offline FID feature '
                    'extractor needs a labelled dataset (use the Inception FID instead).')
  if shard:
    ds = ds.shard(jax.process_count(), jax.process_index())
  return ds.map(_preprocess(spec, data_config.get('resize'), labeled),
                num_parallel_calls=tf.data.AUTOTUNE)


def _folder_dataset(data_config, split: str, labeled: bool, shard: bool):
  from vaeglow_jax import image_folder
  folder = _folder(data_config)
  if split not in image_folder.SPLITS:
    raise DataError(f'an image folder has the splits {", ".join(image_folder.SPLITS)}, not '
                    f'{split!r}; leave data.train_split and data.validation_split empty.')
  if labeled and folder.labels is None:
    raise DataError(f'the images in {data_config.folder} have no class labels (no class '
                    'subfolders); the offline FID feature extractor needs them: put the images '
                    'in PATH/<class>/ folders, or use the Inception FID instead.')
  ds = image_folder.dataset(folder, split, labeled)
  return ds.shard(jax.process_count(), jax.process_index()) if shard else ds


def local_batch_size(global_batch: int) -> int:
  if global_batch % jax.process_count():
    raise DataError(f'batch_size {global_batch} is not divisible by the process count '
                    f'{jax.process_count()}.')
  return global_batch // jax.process_count()


def train_iterator(data_config, global_batch: int, seed: int, start_step: int = 0,
                   split: str | None = None) -> Iterator[np.ndarray]:
  """Endless deterministic stream of uint8 batches (local_batch, H, W, C).

  The order depends only on `seed`, not on the number of processes: every process
  shuffles the whole split alike, forms the global batch and keeps its own slice
  (process i: rows i*local .. (i+1)*local), so the processes' slices are disjoint and
  together are the batch a single process would train on. `start_step` skips the
  batches already consumed, so a resumed run sees exactly the data an uninterrupted
  run would.
  """
  import tensorflow as tf
  spec = get_spec(data_config.name)
  split = split or data_config.get('train_split') or spec.train_split
  local = local_batch_size(global_batch)
  buffer = data_config.get('shuffle_buffer', 10_000)
  if _per_process(data_config):  # this process's share only, batched here
    ds = _dataset(data_config, _share(split), shard=False).cache()
    ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(local, drop_remainder=True)
  else:
    ds = _dataset(data_config, split, shard=False).cache()
    ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(global_batch, drop_remainder=True)
    if jax.process_count() > 1:
      first = jax.process_index() * local
      ds = ds.map(lambda batch: batch[first:first + local])
  ds = ds.skip(start_step).prefetch(tf.data.AUTOTUNE)
  return ds.as_numpy_iterator()


def _split_name(data_config, split: str) -> str:
  spec = get_spec(data_config.name)
  return {'train': data_config.get('train_split') or spec.train_split,
          'validation': data_config.get('validation_split') or spec.validation_split,
          'test': spec.test_split}.get(split, split)


def labeled_arrays(data_config, split: str, max_examples: int | None = None):
  """A whole split in memory, the same on every process: (images uint8 (n, H, W, C), labels
  int32 (n,)). For the small labelled datasets the FID feature extractor trains on."""
  ds = _dataset(data_config, _split_name(data_config, split), labeled=True, shard=False)
  if max_examples:
    ds = ds.take(max_examples)
  images, labels = [], []
  for x, y in ds.batch(4096).as_numpy_iterator():
    images.append(x)
    labels.append(y)
  return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def eval_iterator(data_config, split: str, global_batch: int, max_examples: int | None = None):
  """One pass over a split: yields (images uint8 (local_batch, H, W, C), mask bool
  (local_batch,)). Every process reads the split in the same order and keeps its slice
  of each global batch, the last one padded to full size with zero images (mask False on
  padding, by clu's `pad_dataset`): every example counts once, and every process sees the
  same number of batches."""
  from clu import deterministic_data
  ds = _dataset(data_config, _split_name(data_config, split), shard=False)
  if max_examples:
    ds = ds.take(max_examples)
  ds = ds.map(lambda image: {'image': image})
  cardinality = int(ds.cardinality())
  if cardinality < 0:  # unknown (e.g. under tfds.testing.mock_data): count once.
    cardinality = int(ds.reduce(0, lambda count, _: count + 1))
  ds = deterministic_data.pad_dataset(ds, batch_dims=[global_batch], cardinality=cardinality)
  local = local_batch_size(global_batch)
  first = jax.process_index() * local
  for batch in ds.batch(global_batch).as_numpy_iterator():
    yield batch['image'][first:first + local], batch['mask'][first:first + local]


def num_examples(data_config, split: str) -> int:
  """Number of examples in a split (all processes together)."""
  spec = get_spec(data_config.name)
  split = split or spec.train_split
  if data_config.name == IMAGE_FOLDER:
    return len(_folder(data_config).files(split)[0])
  try:
    return _builder(data_config).info.splits[split].num_examples
  except KeyError:  # no split metadata (e.g. tfds.testing.mock_data): count.
    import tensorflow_datasets as tfds
    ds = _builder(data_config).as_dataset(split=split)
    count = int(ds.cardinality())
    return count if count >= 0 else sum(1 for _ in tfds.as_numpy(ds))
