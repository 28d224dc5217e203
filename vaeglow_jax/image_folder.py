"""A folder of one's own images as a dataset: `--config.data.name=image_folder
--config.data.folder=PATH` (local or gs://).

PATH holds PNG or JPEG files, either all directly in it (no labels) or all in class subfolders
(PATH/<class>/..., labels 0.. in the sorted order of the subfolder names; the offline FID
classifier trains on them). Each image is center-cropped to a square and resized to
data.resize x data.resize (area averaging); with data.resize = 0 every image must already have
one size, which is kept. Grayscale if every image is, else RGB: a grayscale image in an RGB
folder is repeated over the three channels, and an alpha channel (RGBA, LA, a palette with
transparency) is dropped, not composited. Files that are not PNG or JPEG (a .txt, .DS_Store) are
skipped. `Folder.summary()` says all of this in one line, which training logs first.

The split is a fixed function of each file's path relative to PATH (a hash): about 10% test, 5%
validation, 85% train, the same on every machine and unchanged for the other files when files
are added. A gs:// folder is copied once per machine and version (workdir.cached_copy), as TFDS
data is.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import posixpath

import numpy as np

from vaeglow_jax.errors import UserError
from vaeglow_jax.io import files as files_lib

SUFFIXES = ('.png', '.jpg', '.jpeg')
TEST_PERCENT, VALIDATION_PERCENT = 10, 5
SPLITS = ('train', 'validation', 'test')
_GRAY_MODES = ('1', 'L', 'LA', 'I;16', 'I')
_ALPHA_MODES = ('RGBA', 'LA', 'PA', 'RGBa')


class ImageFolderError(UserError, ValueError):
  """A folder that cannot be a dataset; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class Folder:
  """A scanned image folder: every file's local path, split and label, and the output shape."""
  root: str
  paths: tuple[str, ...]  # local, absolute
  splits: tuple[str, ...]  # 'train' | 'validation' | 'test', per path
  labels: tuple[int, ...] | None  # per path; None without class subfolders
  class_names: tuple[str, ...]
  image_shape: tuple[int, int, int]  # (H, W, C) of the images the pipeline yields
  crop: bool  # center-crop to a square and resize to image_shape
  modes: tuple[tuple[str, int], ...] = ()  # (PIL mode, image count), e.g. (('RGB', 90), ('RGBA', 3))
  skipped: tuple[str, ...] = ()  # relative paths of the files that are not PNG or JPEG

  def summary(self) -> str:
    """One line: images, classes, split sizes, the image shape, what is converted or skipped."""
    counts = {split: self.splits.count(split) for split in SPLITS}
    classes = (f'{len(self.class_names)} classes ({", ".join(self.class_names[:5])}'
               f'{", ..." if len(self.class_names) > 5 else ""})' if self.class_names
               else 'no classes')
    height, width, channels = self.image_shape
    shape = f'{height}x{width}x{channels}' + (' (center-cropped, resized)' if self.crop else '')
    converted = []
    alpha = sum(n for mode, n in self.modes if mode in _ALPHA_MODES)
    if alpha:
      converted.append(f'{alpha} with an alpha channel (dropped)')
    if channels == 3:
      gray = sum(n for mode, n in self.modes if mode in _GRAY_MODES)
      if gray:
        converted.append(f'{gray} grayscale (repeated over RGB)')
    suffixes = sorted({posixpath.splitext(posixpath.basename(p))[1] or posixpath.basename(p)
                       for p in self.skipped})
    return (f'image folder {self.root}: {len(self.paths)} images, {classes}; '
            f'{counts["train"]} train / {counts["validation"]} validation / {counts["test"]} test; '
            f'{shape}; converted: {", ".join(converted) or "none"}; skipped: '
            + (f'{len(self.skipped)} files not PNG or JPEG ({", ".join(suffixes)})'
               if self.skipped else 'none'))

  def files(self, split: str) -> tuple[list[str], list[int] | None]:
    """The paths (and labels) of `split`, in a fixed order."""
    chosen = [i for i, s in enumerate(self.splits) if s == split]
    labels = [self.labels[i] for i in chosen] if self.labels is not None else None
    return [self.paths[i] for i in chosen], labels


def split_of(relative_path: str) -> str:
  """The split of a file, from its path relative to the folder."""
  bucket = int(hashlib.sha256(relative_path.encode()).hexdigest(), 16) % 100
  if bucket < TEST_PERCENT:
    return 'test'
  return 'validation' if bucket < TEST_PERCENT + VALIDATION_PERCENT else 'train'


def _images_under(root: str) -> tuple[list[str], list[str]]:
  """Relative paths of the image files under `root` and of the other files, each sorted."""
  found, others = [], []

  def walk(directory: str, relative: str) -> None:
    for name in files_lib.list_dir(directory):
      path, rel = files_lib.join(directory, name), f'{relative}{name}'
      if files_lib.is_dir(path):
        walk(path, rel + '/')
      elif name.lower().endswith(SUFFIXES):
        found.append(rel)
      else:
        others.append(rel)

  walk(root, '')
  return sorted(found), sorted(others)


@functools.lru_cache(maxsize=8)
def scan(folder: str, resize: int = 0, cache_dir: str = '') -> Folder:
  """Lists, checks and splits `folder` (reads every image's header). Raises ImageFolderError."""
  from PIL import Image
  if not folder:
    raise ImageFolderError('data.name=image_folder needs --config.data.folder=PATH (a folder of '
                           'PNG or JPEG images, optionally in class subfolders).')
  root = folder
  if not files_lib.is_local(folder):
    try:
      root = files_lib.cached_copy(folder, cache_dir or None)
    except FileNotFoundError:
      raise ImageFolderError(f'data.folder {folder} is not a folder.') from None
  elif not files_lib.is_dir(folder):
    raise ImageFolderError(f'data.folder {folder} is not a folder; give the folder of your images.')
  relative, skipped = _images_under(root)
  if not relative:
    raise ImageFolderError(f'no PNG or JPEG images in {folder} (nor in its subfolders).')
  top = {'/' in r for r in relative}
  if top == {True, False}:
    raise ImageFolderError(f'{folder} has images both in it and in subfolders; put them all in '
                           'class subfolders (labelled) or all directly in it (unlabelled).')
  class_names = tuple(sorted({r.split('/')[0] for r in relative})) if True in top else ()
  sizes, grayscale, modes = set(), True, {}
  for r in relative:
    try:
      with Image.open(io.BytesIO(files_lib.read_bytes(files_lib.join(root, r)))) as image:
        image.verify()
        sizes.add(image.size)
        grayscale &= image.mode in _GRAY_MODES and image.mode != 'LA'
        alpha = image.mode == 'P' and 'transparency' in image.info
        mode = 'PA' if alpha else image.mode
        modes[mode] = modes.get(mode, 0) + 1
    except Exception as e:  # noqa: BLE001 - any decoding failure is the file's
      raise ImageFolderError(f'cannot read {files_lib.join(folder, r)} as an image '
                             f'({type(e).__name__}: {e}); fix or remove it.') from None
  if not resize and len(sizes) > 1:
    shown = ', '.join(f'{w}x{h}' for w, h in sorted(sizes)[:3])
    raise ImageFolderError(f'the images in {folder} have {len(sizes)} sizes ({shown}, ...); set '
                           '--config.data.resize=N to center-crop and resize them all to NxN.')
  width, height = next(iter(sizes)) if not resize else (resize, resize)
  labels = (tuple(class_names.index(r.split('/')[0]) for r in relative) if class_names else None)
  return Folder(root=root, paths=tuple(files_lib.join(root, r) for r in relative),
                splits=tuple(split_of(r) for r in relative), labels=labels,
                class_names=class_names, image_shape=(height, width, 1 if grayscale else 3),
                crop=bool(resize), modes=tuple(sorted(modes.items())), skipped=tuple(skipped))


def dataset(folder: Folder, split: str, labeled: bool = False):
  """tf.data.Dataset of `split`'s images, uint8 (H, W, C) (with int64 labels if `labeled`)."""
  import tensorflow as tf
  paths, labels = folder.files(split)
  if not paths:
    raise ImageFolderError(f'the {split} split of {folder.root} is empty ({len(folder.paths)} '
                           'images in all); add images (about 10% go to test, 5% to validation).')
  height, width, channels = folder.image_shape

  def load(path):
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    if folder.crop:
      shape = tf.shape(image)
      side = tf.minimum(shape[0], shape[1])
      image = tf.image.crop_to_bounding_box(image, (shape[0] - side) // 2, (shape[1] - side) // 2,
                                            side, side)
      image = tf.image.resize(image, (height, width), method='area')
      image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return tf.ensure_shape(image, (height, width, channels))

  ds = tf.data.Dataset.from_tensor_slices(paths).map(load, num_parallel_calls=tf.data.AUTOTUNE,
                                                     deterministic=True)
  if labeled:
    ds = tf.data.Dataset.zip((ds, tf.data.Dataset.from_tensor_slices(np.asarray(labels, np.int64))))
  return ds
