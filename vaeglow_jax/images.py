"""Images as files: 8-bit codes, sample grids and PNGs, written through the work-directory module
(so a local path or gs://)."""

from __future__ import annotations

import numpy as np

from vaeglow_jax.io import files as files_lib


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[0, 1] floats -> the nearest 8-bit codes (values clipped to [0, 1] first)."""
  return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


def quantize(images: np.ndarray) -> np.ndarray:
  """[0, 1] floats -> the nearest 8-bit level, as a saved image holds them (same dtype)."""
  return np.round(np.clip(images, 0.0, 1.0) * 255.0) / 255.0


def grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
  """(N, H, W, C) floats in [0, 1] -> (rows*H, columns*W, C) uint8 grid, white where empty."""
  images = np.asarray(images)
  n, h, w, c = images.shape
  columns = columns or int(np.ceil(np.sqrt(n)))
  rows = int(np.ceil(n / columns))
  out = np.ones((rows * h, columns * w, c), np.float32)
  for i in range(n):
    r, col = divmod(i, columns)
    out[r * h:(r + 1) * h, col * w:(col + 1) * w] = images[i]
  return to_uint8(out)


def save_grid(path: str, images: np.ndarray, columns: int | None = None) -> str:
  """Writes (N, H, W, C) floats in [0, 1] as one PNG grid; returns the file's name."""
  files_lib.write_png(path, grid(images, columns))
  return files_lib.basename(path)


def write_folder(out_dir: str, images: np.ndarray) -> list[str]:
  """One 8-bit PNG per uint8 image (N, H, W, C) (grayscale for one channel, RGB for three),
  000000.png onwards, plus samples.npz holding the same array as 'x'. Returns the PNG names."""
  width = max(6, len(str(len(images) - 1)))
  names = []
  for i, image in enumerate(images):
    names.append(f'{i:0{width}d}.png')
    files_lib.write_png(files_lib.join(out_dir, names[-1]), image)
  files_lib.write_npz_atomic(files_lib.join(out_dir, 'samples.npz'), {'x': images})
  return names
