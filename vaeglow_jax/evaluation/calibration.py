"""What a feature space rewards and punishes: FID, KID and precision/recall of real images
with the defects generative models have, against the held-out test images.

- floor: `num_images` clean training images (the best any model can score);
- blur: the same images under a Gaussian blur of `blur_sigmas` pixels (VAE decoder means);
- noise: additive Gaussian pixel noise of `noise_stds` (x_tilde, Glow-layer samples);
- classes: training images of only `keep_classes` of the classes (missing modes); the kept
  classes are nested prefixes of one seeded permutation;
- count: the first `sample_counts` of the clean images (no defect, fewer samples): FID's bias
  at small sample counts against KID's lack of one.

Every perturbed set is clipped to [0, 1] and quantised to 8 bits, as scored samples are.
The pixel RMSE of each perturbation is reported, so spaces can be compared at equal pixel
error: `noise_over_blur_at_equal_rmse` is FID-above-floor of noise with the RMSE of a 1-pixel
blur (interpolated in log-log), divided by FID-above-floor of that blur (1 = equally sensitive;
>> 1 = the space punishes noise far more than blur); `..._kid` is the same for KID.

`calibrate(config, workdir)` is what `python -m experiments.fid_calibration` runs; it writes
workdir/fid_calibration.json and workdir/fid_calibration.png.
"""

from __future__ import annotations

import math
import time

import numpy as np

from vaeglow_jax import data as data_lib
from vaeglow_jax import images as images_lib
from vaeglow_jax.errors import UserError
from vaeglow_jax.evaluation import scoring
from vaeglow_jax.evaluation.metrics import scores as scores_lib
from vaeglow_jax.io import files as files_lib

RESULT_FILE = 'fid_calibration.json'
FIGURE_FILE = 'fid_calibration.png'
EQUAL_RMSE_BLUR_SIGMA = 1.0


class CalibrationError(UserError, ValueError):
  """A problem the user can fix; the message says how."""


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
  """(n, H, W, C) -> the same shape, each channel blurred by a separable Gaussian of `sigma`
  pixels (kernel radius ceil(3 sigma), mirrored borders, weights summing to 1)."""
  radius = max(1, math.ceil(3 * sigma))
  taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
  taps /= taps.sum()
  out = np.asarray(images, np.float64)
  for axis in (1, 2):
    pad = [(0, 0)] * 4
    pad[axis] = (radius, radius)
    padded = np.pad(out, pad, mode='symmetric')
    size = out.shape[axis]
    out = sum(w * np.take(padded, np.arange(i, i + size), axis=axis) for i, w in enumerate(taps))
  return out


def add_noise(images: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
  """images + N(0, std^2) per pixel (not yet clipped)."""
  return np.asarray(images, np.float64) + std * rng.standard_normal(images.shape)


def class_subset(order: np.ndarray, labels: np.ndarray, kept: np.ndarray, num: int) -> np.ndarray:
  """Indices of the first `num` entries of `order` whose label is in `kept` (fewer if the kept
  classes hold fewer images: no image is repeated, so the sets stay sets)."""
  return order[np.isin(labels[order], kept)][:num]


def _check(config) -> None:
  c = config.calibration
  if c.num_images < 4:
    raise CalibrationError(f'calibration.num_images must be at least 4, got {c.num_images}.')
  if any(s <= 0 for s in c.blur_sigmas) or any(s <= 0 for s in c.noise_stds):
    raise CalibrationError('calibration.blur_sigmas and calibration.noise_stds must be positive, '
                           f'got {tuple(c.blur_sigmas)} and {tuple(c.noise_stds)}.')
  if any(not 4 <= n <= c.num_images for n in c.sample_counts):
    raise CalibrationError(f'calibration.sample_counts must be in 4..num_images ({c.num_images}), '
                           f'got {tuple(c.sample_counts)}.')
  if any(k < 1 for k in c.keep_classes):
    raise CalibrationError(f'calibration.keep_classes must be >= 1, got {tuple(c.keep_classes)}.')


def calibrate(config, workdir: str, log=print) -> dict:
  """Scores every perturbation in every available feature space; returns (and writes) the result."""
  _check(config)
  c = config.calibration
  spaces, absent = scoring.feature_spaces(config)
  if not spaces:
    raise CalibrationError('no feature space to calibrate: pass --config.eval.feature_extractor_dir=DIR '
                           '(train one with vaeglow-features) and/or '
                           '--config.eval.inception_weights=PATH.')
  files_lib.check_writable(workdir)
  start = time.time()
  train_x, train_y = data_lib.labeled_arrays(config.data, 'train')
  test_x, _ = data_lib.labeled_arrays(config.data, 'test', c.num_images)
  num_classes = int(train_y.max()) + 1
  if max(c.keep_classes) > num_classes:
    raise CalibrationError(f'calibration.keep_classes {tuple(c.keep_classes)} asks for more than the '
                           f'{num_classes} classes of {config.data.name}.')
  rng = np.random.default_rng(c.seed)
  order = rng.permutation(len(train_x))
  class_order = rng.permutation(num_classes)
  clean = train_x[order[:c.num_images]].astype(np.float64) / 255.0

  sets = {('floor', 0.0): clean}
  for sigma in c.blur_sigmas:
    sets[('blur', float(sigma))] = gaussian_blur(clean, sigma)
  for std in c.noise_stds:
    sets[('noise', float(std))] = add_noise(clean, std, rng)
  kept_classes = {}
  for k in c.keep_classes:
    kept_classes[int(k)] = class_order[:k]
    sets[('classes', float(k))] = (
        train_x[class_subset(order, train_y, class_order[:k], c.num_images)] / 255.0)
  for count in c.sample_counts:
    sets[('count', float(count))] = clean[:count]
  sets = {key: images_lib.quantize(images) for key, images in sets.items()}
  clean = sets[('floor', 0.0)]

  batch = config.eval.batch_size
  result = {'dataset': config.data.name, 'num_images': int(len(clean)),
            'num_reference_images': int(len(test_x)), 'seed': int(c.seed),
            'kept_classes': {str(k): [int(i) for i in v] for k, v in kept_classes.items()},
            'notes': absent, 'spaces': {}}
  for name, (fn, info) in spaces.items():
    ref = scores_lib.reference(scoring.features(fn, test_x.astype(np.float32) / 255.0, batch))
    rows = []
    for (family, level), images in sets.items():
      row = {'family': family, 'level': level, 'num_images': int(len(images)),
             'pixel_rmse': float(np.sqrt(np.mean((images - clean) ** 2)))
             if family in ('floor', 'blur', 'noise') else None}
      row.update(scores_lib.score(ref, scoring.features(fn, images.astype(np.float32), batch)))
      rows.append(row)
      log(f"{name} {family} {level:g}: FID {row['fid']:.2f}, KID {row['kid']:.5f}, "
          f"P/R {row['precision']:.3f}/{row['recall']:.3f} ({time.time() - start:.0f} s)")
    result['spaces'][name] = {'info': info, 'rows': rows, 'summary': _summary(rows)}
  result['seconds'] = time.time() - start
  _write(workdir, result)
  return result


def _curve(rows, family):
  """The rows of one perturbation family, weakest first."""
  return sorted((r for r in rows if r['family'] == family), key=lambda r: r['level'])


def _summary(rows) -> dict:
  """The noise-vs-blur sensitivity at equal pixel RMSE, for FID and for KID (module docstring)."""
  floor = next(r for r in rows if r['family'] == 'floor')
  blur = [r for r in _curve(rows, 'blur') if r['level'] == EQUAL_RMSE_BLUR_SIGMA]
  noise = _curve(rows, 'noise')
  out = {'floor_fid': floor['fid'], 'floor_kid': floor['kid']}
  if not blur or len(noise) < 2:
    return out
  blur = blur[0]
  target = blur['pixel_rmse']
  rmse = [r['pixel_rmse'] for r in noise]
  out.update(blur_sigma=EQUAL_RMSE_BLUR_SIGMA, blur_pixel_rmse=target,
             interpolated=bool(rmse[0] <= target <= rmse[-1]))
  for score in ('fid', 'kid'):
    excess = [max(r[score] - floor[score], 1e-9) for r in noise]
    # log(score above floor) is close to linear in log(RMSE) over the measured range.
    noise_excess = float(np.exp(np.interp(np.log(target), np.log(rmse), np.log(excess))))
    blur_excess = blur[score] - floor[score]
    suffix = '' if score == 'fid' else '_kid'
    out[f'blur_above_floor{suffix or "_fid"}'] = blur_excess
    out[f'noise_above_floor_at_that_rmse{suffix or "_fid"}'] = noise_excess
    out[f'noise_over_blur_at_equal_rmse{suffix}'] = noise_excess / max(blur_excess, 1e-9)
  return out


def markdown_table(result: dict, space: str) -> str:
  """The calibration of one feature space as RESULTS.md shows it: one row per perturbation
  (pixel RMSE, FID, KID +- its SE, precision, recall), then its noise-over-blur summary."""
  def fmt_kid(r):
    return f"{r['kid']:.3g} +- {r['kid_se']:.2g}"
  rows = result['spaces'][space]['rows']
  lines = ['| perturbation | pixel RMSE | FID | KID | precision | recall |',
           '|---|---|---|---|---|---|']
  labels = {'floor': lambda r: 'none (floor: train vs test)',
            'count': lambda r: f"none, {int(r['level']):,} images",
            'blur': lambda r: f"blur sigma {r['level']:g} px",
            'noise': lambda r: f"pixel noise std {r['level']:g}",
            'classes': lambda r: f"{int(r['level'])} of 10 classes" + (
                f" ({r['num_images']:,} images)" if r['num_images'] != result['num_images'] else '')}
  for family in ('floor', 'count', 'blur', 'noise', 'classes'):
    for r in _curve(rows, family)[::-1 if family == 'classes' else 1]:
      if family == 'classes' and r['level'] == 10:
        continue  # the floor itself
      rmse = '-' if family == 'classes' else ('0' if not r['pixel_rmse'] else f"{r['pixel_rmse']:.3f}")
      lines.append(f"| {labels[family](r)} | {rmse} | {r['fid']:.2f} | {fmt_kid(r)} | "
                   f"{r['precision']:.3f} | {r['recall']:.3f} |")
  summary = result['spaces'][space].get('summary', {})
  if 'noise_over_blur_at_equal_rmse' in summary:
    lines += ['', f"At the pixel RMSE of a {summary['blur_sigma']:g} px blur "
              f"({summary['blur_pixel_rmse']:.3f}), pixel noise raises FID "
              f"{summary['noise_over_blur_at_equal_rmse']:.2f}x and KID "
              f"{summary['noise_over_blur_at_equal_rmse_kid']:.2f}x as much as the blur does."]
  return '\n'.join(lines) + '\n'


def _write(workdir: str, result: dict) -> None:
  files_lib.write_json_atomic(files_lib.join(workdir, RESULT_FILE), result, indent=2)
  figure(result, files_lib.join(workdir, FIGURE_FILE))


def figure(result: dict, path: str) -> str:
  """One row per feature space: FID (left axis) and precision/recall (right) against each
  perturbation's strength, with the floor as a dashed line."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  titles = {'blur': 'Gaussian blur (sigma, px)', 'noise': 'pixel noise (std)',
            'classes': 'classes kept'}
  spaces = result['spaces']
  fig, axes = plt.subplots(len(spaces), 3, figsize=(13, 3.4 * len(spaces)), squeeze=False)
  for row_axes, (name, space) in zip(axes, spaces.items()):
    floor = space['summary']['floor_fid']
    for ax, family in zip(row_axes, titles):
      curve = _curve(space['rows'], family)
      levels = [r['level'] for r in curve]
      ax.plot(levels, [r['fid'] for r in curve], 'o-', color='C0', label='FID')
      ax.axhline(floor, color='C0', ls='--', lw=1, label='floor (clean train vs test)')
      ax.set_xlabel(titles[family])
      ax.set_ylabel(f'FID ({name})', color='C0')
      if family == 'classes':
        ax.invert_xaxis()
      twin = ax.twinx()
      twin.plot(levels, [r['precision'] for r in curve], 's:', color='C1', label='precision')
      twin.plot(levels, [r['recall'] for r in curve], '^:', color='C2', label='recall')
      twin.set_ylim(-0.02, 1.02)
      twin.set_ylabel('precision / recall')
      if family == 'blur':
        lines = ax.get_legend_handles_labels()
        extra = twin.get_legend_handles_labels()
        ax.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=7, loc='center right')
  fig.suptitle(f"{result['dataset']}: {result['num_images']} perturbed training images against "
               f"{result['num_reference_images']} test images")
  fig.tight_layout()
  files_lib.write_figure(path, fig, dpi=90)
  plt.close(fig)
  return path
