r"""Tests the factorial's hypothesis about diagonal decoder variances (RESULTS.md): where each VAE's
reconstruction error goes (background against foreground pixels, the top-10% share, log MSE
against log variance per pixel) and how varied its decoder-mean samples are within a class.

  python -m experiments.decoder_variance --features=workdirs/feature_extractor/fashion_mnist \
      --out=results/fashion_mnist/factorial/decoder_variance.md WORKDIR [WORKDIR ...]

Each WORKDIR holds a trained 'vae' phase; test images: the first --num_test of the test split,
reconstructed from the posterior mean; samples: --num_samples decoder means from the VAE's prior.
"""

import os

from absl import app, flags

_FEATURES = flags.DEFINE_string('features', None, 'Feature extractor (classifier) work directory.')
_OUT = flags.DEFINE_string('out', '', 'Markdown table to write (and the JSON beside it).')
_NUM_TEST = flags.DEFINE_integer('num_test', 2000, 'Test images reconstructed.')
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 2000, 'Decoder-mean samples classified.')
flags.mark_flags_as_required(['features'])


def measure(workdir: str, classify, test_x, batch: int = 250) -> dict:
  import jax
  from vaeglow_jax.runtime import environment
  environment.configure()
  import numpy as np
  from vaeglow_jax import data as data_lib, phases
  from vaeglow_jax.config import history
  from vaeglow_jax.evaluation import loading
  from vaeglow_jax.evaluation import sampling
  from vaeglow_jax.evaluation.metrics import pixel_errors
  from vaeglow_jax.models.model import VAEGlow
  config = history.trained_config(workdir, 'vae')
  phase = phases.build(config, data_lib.image_shape(config.data))
  variables, _ = loading.load_variables(config, workdir, phase)

  @jax.jit
  def reconstruct(x):
    mean, _ = phase.vae.apply(variables, x, method=VAEGlow.encode)
    return phase.vae.apply(variables, mean, method=VAEGlow.decode)
  parts = [reconstruct(test_x[i:i + batch]) for i in range(0, len(test_x), batch)]
  means, log_stds = (np.concatenate([np.asarray(p[k]) for p in parts]) for k in (0, 1))
  out = pixel_errors.error_split(pixel_errors.per_pixel(test_x, means, log_stds))
  samples = sampling.draw(phase, variables, jax.random.PRNGKey(0), _NUM_SAMPLES.value, 0.5,
                          batch, sampling.local_mesh()).astype(np.float32) / 255.0
  (logits_s, feats_s), (logits_t, feats_t) = (
      [np.concatenate(a) for a in zip(*[tuple(map(np.asarray, classify(images[i:i + batch])))
                                        for i in range(0, len(images), batch)])]
      for images in (samples, test_x))
  spread = pixel_errors.within_class_spread(feats_s, logits_s.argmax(-1), feats_t, logits_t.argmax(-1))
  counts = np.bincount(logits_s.argmax(-1), minlength=logits_t.shape[-1])
  out.update(within_class_spread=spread['mean_ratio'], spread_by_class=spread['by_class'],
             sample_class_share_max=float(counts.max() / counts.sum()),
             variance=config.model.variance, prior=config.model.prior.kind, seed=config.seed)
  return out


def main(argv):
  import numpy as np
  from vaeglow_jax import data as data_lib
  from vaeglow_jax.io import files as files_lib
  from vaeglow_jax.config import history
  from vaeglow_jax.evaluation.metrics import feature_extractor
  workdirs = argv[1:]
  if not workdirs:
    raise app.UsageError('give at least one work directory with a trained vae phase.')
  config = history.trained_config(workdirs[0], 'vae')
  classify, _ = feature_extractor.load_classifier(_FEATURES.value, config.data)
  images, _ = data_lib.labeled_arrays(config.data, 'test', _NUM_TEST.value)
  test_x = images.astype(np.float32) / 255.0
  rows = {w: measure(w, classify, test_x) for w in workdirs}
  header = ('| VAE | seed | RMS background | RMS foreground | top-10% error share | '
            'corr(log MSE, log var) | within-class spread (samples / test) | largest class share |')
  lines = [header, '|' + '---|' * 8]
  for w, r in rows.items():
    lines.append(f"| {r['variance']} variance, {r['prior']} prior | {r['seed']} | "
                 f"{r['rms_background']:.4f} | {r['rms_foreground']:.4f} | {r['top10_error_share']:.3f} | "
                 f"{r['log_mse_log_variance_corr']:.3f} | {r['within_class_spread']:.3f} | "
                 f"{r['sample_class_share_max']:.3f} |")
  text = '\n'.join(lines) + '\n'
  print(text)
  if _OUT.value:
    files_lib.write_text_atomic(_OUT.value, text)
    files_lib.write_json_atomic(os.path.splitext(_OUT.value)[0] + '.json', rows, indent=2)


if __name__ == '__main__':
  app.run(main)
