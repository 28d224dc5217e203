"""Loads a trained run in Python and saves one figure: 16 samples, then 8 test images beside
their reconstructions (decoder means, and the Glow layer's outputs for a Glow-layer phase).

  .venv/bin/python -m experiments.example_load [WORKDIR] [OUT.png]
  (defaults: workdirs/fashion_mnist_quick, the demo's run; WORKDIR/example.png)
"""

import sys

import numpy as np

import vaeglow_jax
from vaeglow_jax import data, images
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.runtime import environment


def main(run_dir: str, out: str) -> None:
  environment.configure()  # before the first gs:// path
  run = vaeglow_jax.load(run_dir)
  samples = run.sample(16, temperature=0.5, seed=0)
  test, _ = next(data.eval_iterator(run.config.data, 'test', 8, 8))
  parts = run.reconstruct(test)
  rows = [samples[:8], samples[8:], test, parts['decoder_mean']]
  if run.phase.spec.use_glow:
    rows.append(parts['x'])
  images.save_grid(out, np.concatenate(rows).astype(np.float32) / 255.0, columns=8)
  bpd = run.bits_per_dim(test)
  print(f'{run.phase.name} at step {run.step}: {len(rows)} rows of 8 (samples at T=0.5 x2, test '
        f'images, decoder means{", Glow layer" if run.phase.spec.use_glow else ""}) -> {out}; '
        f'bits/dim of those 8 test images: {float(np.mean(bpd.get("iw", bpd.get("exact")))):.3f}')


if __name__ == '__main__':
  run_dir = sys.argv[1] if len(sys.argv) > 1 else 'workdirs/fashion_mnist_quick'
  main(run_dir, sys.argv[2] if len(sys.argv) > 2 else files_lib.join(run_dir, 'example.png'))
