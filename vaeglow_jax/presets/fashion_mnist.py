"""Fashion-MNIST (28x28x1), available offline (Debian package dataset-fashion-mnist).

Presets: 'default' = the paper's hyperparameters; 'quick' = the CPU demo
(both phases in well under 20 minutes on 2 cores); 'smoke' = the quick model for 60 steps a phase
and a small evaluation (a first try, a few minutes); 'tiny' = 8x8 images and models a few hundred
parameters wide, for tests, script rehearsals and benchmark smoke runs (seconds per phase).
Glow-layer coupling width: the paper does not state it; 256 here, half of
Glow's 512, since the layer only sharpens a VAE that already models the data.
One squeeze makes the 1-channel image 14x14x4 so channel couplings apply.
"""

from vaeglow_jax.presets.common import apply_cpu_quick, base_config, unknown_preset

PRESETS = ('default', 'quick', 'smoke', 'tiny')


def get_config(preset: str = 'default'):
  c = base_config()
  c.data.name = 'fashion_mnist'
  c.model.num_scales = 3
  c.model.glow.num_squeezes = 1
  c.model.baseline.levels = 2     # 28 x 28: three halvings do not divide it
  if preset in ('quick', 'smoke', 'tiny'):
    apply_cpu_quick(c)
    # scripts/demo.sh runs 1,200 phase-1 steps and 500 phase-2 steps (1.4 + 0.6 epochs; step
    # times in BENCHMARKS.md).
    c.batch_size = 64
    # Halved every 859 updates: one epoch of Fashion-MNIST's 55,000 training images at batch 64,
    # counted in steps so the schedule is the same on any dataset (a folder of 300 images would
    # otherwise halve it every 4 updates).
    c.lr_halve_every_steps = 859
    c.num_train_steps = 1200
    c.checkpoint_every_steps = 400
    c.log_every_steps = 100
    c.sample_every_steps = 400
    c.model.latent_dim = 16
    # Glow-layer width 128: the best test bpd and T=0 FID of the Glow-layer ablation at 500 steps
    # (results/fashion_mnist/glow_layer_ablation/ablation.md); 256 was no better, 32 worse.
    c.model.glow.hidden = 128
  if preset == 'smoke':
    # A first try (README, Quick start): the quick model, 60 steps a phase, a small evaluation;
    # both phases, evaluate and sample took 3.4 min on 2 busy CPU cores, mostly compilation.
    c.num_train_steps = 60
    c.checkpoint_every_steps = c.sample_every_steps = 60
    c.log_every_steps = 20
    c.warmup_steps = 10
    c.eval.update(max_test_examples=512, iw_samples=4, num_fid_samples=512,
                  temperatures=(0.0, 0.5), num_grid_samples=16, num_interpolations=4,
                  interpolation_steps=6)
  elif preset == 'tiny':
    _shrink_to_tiny(c)
  elif preset not in PRESETS:
    raise unknown_preset(preset, PRESETS)
  return c


def _shrink_to_tiny(c) -> None:
  """The quick preset shrunk to 8x8 images and tiny models: a test compiles and trains in seconds."""
  c.batch_size = 8
  c.lr_halve_every_steps = 0  # the tiny runs halve per epoch of their (mock) data, as before
  c.lr_halve_every_epochs = 1
  c.num_train_steps = 6
  c.checkpoint_every_steps = 3
  c.log_every_steps = 2
  c.sample_every_steps = 6
  c.num_samples = 4
  c.data.resize = 8
  c.data.shuffle_buffer = 64
  c.model.num_scales = 2
  c.model.latent_dim = 4
  c.model.min_log_std = -5.0  # the tiny models' numerics as before the quick floor moved to -7
  c.model.base_channels = 8
  c.model.fc_dim = 16
  c.model.prior.num_layers = 2
  c.model.prior.hidden = 16
  c.model.glow.depth = 2
  c.model.glow.hidden = 8
  c.model.second_stage.width = 16
  c.model.baseline.depth = 2
  c.model.baseline.hidden = 8
  c.feature_extractor.update(widths=(8, 16), feature_dim=16, num_steps=20, batch_size=32,
                             max_train_examples=256)
  c.eval.update(batch_size=8, max_test_examples=32, iw_samples=4, num_fid_samples=24,
                num_grid_samples=4, num_interpolations=2, interpolation_steps=3)
  c.calibration.update(num_images=48, blur_sigmas=(1.0, 2.0), noise_stds=(0.05, 0.2),
                       keep_classes=(10, 2), sample_counts=(16,))
