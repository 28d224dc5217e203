"""The schema: every key a run's config has, with its default value and what it means.

Presets (`experiments/configs/*.py`) are small deltas on `defaults()`; a trained run's config
(`config.history.trained_config`) is rebuilt on top of it, so the library can load a run
without the experiment modules (`vaeglow_jax.load`).
"""

import dataclasses

import ml_collections

from vaeglow_jax.flows import StepOptions
from vaeglow_jax.models import build
from vaeglow_jax.models.classifier import Classifier
from vaeglow_jax.models.glow import GlowLayer, MultiScaleGlow
from vaeglow_jax.models.prior import FlowPrior, SecondStageVAE
from vaeglow_jax.models.vae import Decoder, Encoder


def defaults() -> ml_collections.ConfigDict:
  """Every config key with its default value."""
  c = ml_collections.ConfigDict()
  c.phase = 'vae'                 # vae | glow | prior | second_stage | joint | glow_baseline
  c.seed = 0
  c.batch_size = 64               # global batch, divisible by the device count
  c.num_epochs = 1000             # the paper: 1,000 VAE epochs, then 1,000 Glow-layer epochs
  c.num_train_steps = -1          # > 0 overrides num_epochs
  c.max_train_seconds = 0.0       # > 0: stop (with a final checkpoint) after this much training wall time
  c.learning_rate = 1e-4          # the paper: 1e-4 halved every 250 epochs
  c.lr_halve_every_epochs = 250
  # > 0: halve every this many updates instead, whatever the dataset's epoch (a schedule that
  # means the same on a folder of 300 images and on Fashion-MNIST, and for a run of any length).
  c.lr_halve_every_steps = 0
  c.min_learning_rate = 0.0       # the schedule's floor (0: none)
  c.warmup_steps = 0
  c.grad_clip_norm = 0.0          # 0 disables clipping
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 3
  c.log_every_steps = 100
  c.sample_every_steps = 5000
  c.num_samples = 64
  c.eval_every_steps = 0          # validation loss every N steps (0: off)
  c.eval_max_examples = 2000
  c.early_stopping_patience = 0   # evaluations without improvement before stopping (0: off)
  c.stage1_workdir = ''           # phase-1 workdir for the hand-off ('' = same workdir)
  # A checkpoint that fails its fingerprints on resume: 'fall_back' moves it to
  # <phase>/damaged_checkpoints/ (kept) and resumes from the one before; 'stop' ends the run.
  c.on_damaged_checkpoint = 'fall_back'
  c.nonfinite = 'skip'            # non-finite loss/gradient: 'skip' the step or 'stop' at once
  c.max_consecutive_nonfinite = 10  # with 'skip': stop after this many in a row
  c.multihost = False             # True: start JAX's distributed runtime first (it detects the cluster)
  # Several processes (hosts): empty / -1 reads $JAX_COORDINATOR_ADDRESS, $JAX_NUM_PROCESSES and
  # $JAX_PROCESS_ID, else JAX's auto-detection (TPU pods, SLURM, Open MPI). Any value set = multihost.
  # heartbeat_timeout_seconds: a process not heard from for this long is lost; every other
  # process then ends with one line and exit 75 (distributed.EXIT_PEER_LOST), its lock released.
  # shutdown_timeout_seconds: how long a finished process waits for the others at exit.
  c.distributed = ml_collections.ConfigDict(dict(coordinator_address='', num_processes=-1,
                                                 process_id=-1, heartbeat_timeout_seconds=100,
                                                 shutdown_timeout_seconds=60))
  c.num_devices = 0               # 0: all devices
  # experiments.train on CPU: split the host into this many devices (0: one per core, the most
  # that divide batch_size; 1: JAX's single CPU device). A single process only, unless set > 0;
  # XLA_FLAGS' xla_force_host_platform_device_count wins. No effect on GPU/TPU devices.
  c.cpu_devices = 0
  # A gs:// work directory's lock (runtime.lock.ObjectLock): a run killed without releasing it
  # blocks reruns for this long after its last heartbeat (local work directories use flock).
  c.lock_stale_seconds = 120.0

  c.data = ml_collections.ConfigDict()
  c.data.name = 'fashion_mnist'
  c.data.n_bits = 8
  c.data.data_dir = ''            # TFDS data_dir ('' = TFDS default); gs://... is copied to cache_dir
  c.data.cache_dir = ''           # local copy of a gs:// data_dir ('' = <tmp>/vaeglow_data)
  c.data.resize = 0               # 0: native resolution; N: NxN (image_folder: center-cropped)
  c.data.folder = ''              # data.name='image_folder': a folder of PNG/JPEG images (or gs://)
  c.data.train_split = ''         # '' = the dataset's default (train minus validation)
  c.data.validation_split = ''    # '' = the dataset's default (held out from train)
  c.data.shuffle_buffer = 10_000
  c.data.allow_download = False
  # False: every process reads the whole training split and keeps its slice of each global batch,
  # so N processes train bitwise as one does. True: each process reads (and, from a gs://
  # data_dir, copies) only its own share of the split's files (tfds.split_for_jax_process), for
  # datasets too large for every host to read; the batches then depend on the process count.
  c.data.per_process_files = False

  # The model groups take their keys and defaults from the modules they build (models.build),
  # so a default is written once; the lines below set only where the experiments differ.
  m = c.model = ml_collections.ConfigDict()
  # latent_dim, num_scales (Dai & Wipf: 3 for MNIST/Fashion/CIFAR-10, 4 for CelebA),
  # base_channels, fc_dim, blocks_per_scale, norm ('group' | 'none').
  m.update(build.field_defaults(Encoder))
  # variance: fixed | gamma | diagonal; fixed_log_std; min_log_std (the learned log-std's
  # floor). conv_impl: how the decoder's stride-2 upsampling is computed
  # (vaeglow_jax.layers.conv.TRANSPOSE_IMPLS): 'auto' = a sub-pixel convolution on CPU, XLA's
  # transposed convolution elsewhere. Same parameters.
  m.update(build.field_defaults(Decoder, exclude=('log_gamma_init',)))
  m.variance = 'diagonal'         # the paper's per-pixel variance (Decoder's default: Dai & Wipf's gamma)
  # The scalar variances: the decoder's gamma (variance='gamma') and the second stage's gamma_z.
  # update='optimal' sets log gamma to its closed-form optimum, gamma^2 = the last batch's mean
  # squared error (the sigma-VAE); 'gradient' learns it by Adam from `init`, at its own constant
  # `learning_rate` when > 0 (0: the shared schedule, which moves it ~lr per step: too slow).
  m.gamma = ml_collections.ConfigDict(dict(update='optimal', init=0.0, learning_rate=0.0))
  # The latent prior (models.prior.PRIOR_KINDS): 'flow' = RealNVP couplings, 'maf' = masked
  # autoregressive layers (MADE conditioners), each with num_hidden dense layers of width hidden;
  # 'standard' = N(0, I). unroll: flow steps unrolled per loop iteration; 0 = by backend
  # (flows.default_unroll: all on CPU, 1 on GPU/TPU, 1 with remat); 1 compiles fastest.
  # Parameters are the same either way.
  m.prior = ml_collections.ConfigDict(dict(kind='flow', **build.field_defaults(FlowPrior)))
  # The Glow layer: GlowLayer's fields (depth, num_squeezes, identity_init, mixing, remat,
  # unroll) and its flow steps' (StepOptions: hidden, coupling, mask, lu, conv_impl, net_dtype,
  # layers). conv_impl: how coupling-net convolutions are computed (vaeglow_jax.conv): 'auto'
  # picks matmul forms for thin shapes on CPU; 'xla' is XLA's convolution. net_dtype: 'bfloat16'
  # runs coupling nets in bf16 (GPU/TPU); log-dets stay float32. identity_init: the Glow layer
  # starts as f = identity (phase 2 starts at the phase-1 bound); False gives Glow's
  # data-dependent ActNorm and random rotations. layers: what one flow step applies, in order
  # (vaeglow_jax.flows.registry.LAYERS).
  m.glow = ml_collections.ConfigDict(dict(
      **build.field_defaults(GlowLayer, exclude=('step',)),
      **dataclasses.asdict(StepOptions(hidden=256)),  # narrower than Glow's 512: one scale, K=32
      ))
  m.glow.mixing = 'shuffle'       # identity_init makes every coupling alike without mixing
  m.second_stage = ml_collections.ConfigDict(
      build.field_defaults(SecondStageVAE, exclude=('min_log_gamma', 'log_gamma_init')))
  # The multi-scale Glow baseline: MultiScaleGlow's fields (levels, depth, remat, unroll) and
  # its steps' (Glow's affine coupling; the channel mask is the only one it takes).
  baseline_step = dataclasses.asdict(build.field_defaults(MultiScaleGlow)['step'])
  del baseline_step['mask']
  m.baseline = ml_collections.ConfigDict(dict(
      **build.field_defaults(MultiScaleGlow, exclude=('step',)), **baseline_step))

  # The offline FID feature space (experiments.train_feature_extractor).
  # widths, feature_dim and arch ('strided' or 'pooled', a second, independent feature space)
  # are the Classifier's (models.classifier).
  c.feature_extractor = ml_collections.ConfigDict(dict(
      **build.field_defaults(Classifier, exclude=('num_classes',)),
      num_steps=2000, batch_size=128, learning_rate=1e-3, seed=0,
      max_train_examples=0))  # 0: the whole train split

  # experiments.evaluate
  c.eval = ml_collections.ConfigDict()
  c.eval.batch_size = 256             # divisible by the device count
  c.eval.max_test_examples = 0        # 0: the whole test split
  c.eval.iw_samples = 64              # K of the importance-weighted bound
  c.eval.num_fid_samples = 10_000     # Dai & Wipf: 10,000 samples against 10,000 test images
  c.eval.temperatures = (0.0, 0.25, 0.5, 0.75, 1.0)
  c.eval.feature_extractor_dir = ''   # '' = no fid_<dataset> (the output says why)
  c.eval.inception_weights = ''       # '' = no fid_inception (the output says why)
  c.eval.feature_extractor_dir_2 = ''  # a second classifier: scores 'fid_<dataset>_2' etc.
  # Sample from another trained phase's latent prior (a chain): 'vae', 'prior', 'joint' or
  # 'second_stage' of the same work directory; '' = the phase's own. Writes eval/<phase>+<prior>/.
  c.eval.prior_phase = ''
  c.eval.num_grid_samples = 64
  c.eval.num_interpolations = 8       # rows of the latent-interpolation figure
  c.eval.interpolation_steps = 10
  c.eval.seed = 0

  # experiments.fid_calibration: perturbed training images against the test images.
  c.calibration = ml_collections.ConfigDict(dict(
      num_images=10_000, blur_sigmas=(0.5, 1.0, 1.5, 2.0), noise_stds=(0.02, 0.05, 0.1, 0.2),
      keep_classes=(10, 8, 5, 2, 1), sample_counts=(2_000,), seed=0))

  c.sampling = ml_collections.ConfigDict()
  c.sampling.temperature = 0.5    # the paper's best for FID
  return c
