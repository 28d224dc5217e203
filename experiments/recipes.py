"""The pipelines, declared once as data: which phases are trained in which order, at which
budget, and how each result is evaluated. `experiments.pipeline` runs a recipe and skips every
stage already done; the shell scripts in scripts/ are one-line calls of it.

A recipe is a list of stages. Each stage is one command with its flags, and knows when it is
done (a train stage: its checkpoint at the last step; an evaluation: its metrics.json entry; a
feature extractor: its info file; a copy: never, it is cheap and refreshes the results folder).
"""

from __future__ import annotations

import dataclasses

from experiments.stages import Copy, Evaluate, Features, Fork, Report, Run, Stage, Train

# The budgets (steps of batch 64) every script, benchmark and document takes from here.
DEMO_CONFIG = 'experiments/configs/fashion_mnist.py:quick'
DEMO_VAE_STEPS = 1200      # the README demo and the main table: 1.4 epochs of phase 1
DEMO_GLOW_STEPS = 500      # then 0.6 epochs of the Glow layer on the frozen VAE
FACTORIAL_VAE_STEPS = 600  # the round-3 factorial: half the demo's phase 1 (and post-hoc prior)
FACTORIAL_GLOW_STEPS = 250
BUDGET_VAE_STEPS = 2400    # the budget direction: 4x the factorial's phase 1
BUDGET_GLOW_STEPS = 2000   # and 8x its Glow layer
BUDGET16_GLOW_STEPS = 4000  # then 16x, resumed from the 8x runs
# The budget question asked again: 16x the factorial's phase 1 and 32x its Glow layer, with the
# learning rate halved every 4 x 859 steps, so each run gets the same two halvings as the 4x / 8x
# runs did at 859 (one Fashion-MNIST epoch), not the ten a per-epoch schedule would give.
X16_VAE_STEPS = 16 * 600
X16_GLOW_STEPS = 32 * 250
X16_HALVE_EVERY_STEPS = 4 * 859
FACTORIAL_CELLS = ('gamma_standard', 'gamma_flow', 'diagonal_standard', 'diagonal_flow')
BUDGET_CELLS = ('gamma_standard', 'diagonal_flow')  # the best chain's cell and the paper's

# The evaluation bundles, each written once.
FACTORIAL_EVAL = {'eval.iw_samples': 4, 'eval.max_test_examples': 2000,
                  'eval.num_fid_samples': 2000, 'eval.temperatures': (0.0, 0.25, 0.5, 0.75)}
SEEDS_EVAL = {'eval.iw_samples': 4, 'eval.max_test_examples': 2000,
              'eval.num_fid_samples': 2000, 'eval.temperatures': (0.0, 0.5, 1.0)}
# The CPU levers (sub-pixel upsampling, one device per core) switched off: runs comparable with
# those trained before them.
LEVERS_OFF = {'model.conv_impl': 'xla', 'cpu_devices': 1}

# The chains a factorial cell is evaluated as: (phase, prior phase).
FACTORIAL_CHAINS = (('vae', ''), ('prior', ''), ('glow', ''), ('glow', 'prior'))
FACTORIAL_FIGURES = tuple(f'{chain}/{figure}' for chain in ('vae', 'prior', 'glow', 'glow+prior')
                          for figure in ('samples_T0.png', 'samples_T0.5.png',
                                         'decoder_mean_vs_glow.png'))


def config_flags(overrides: dict) -> tuple[str, ...]:
  """{'eval.iw_samples': 4} -> ('--config.eval.iw_samples=4',); tuples as '(0.0,0.5)'."""
  def text(value):
    if isinstance(value, tuple):
      return '(' + ','.join(str(v) for v in value) + (',)' if len(value) == 1 else ')')
    return str(value)
  return tuple(f'--config.{key}={text(value)}' for key, value in overrides.items())


def train(workdir: str, config: str, phase: str, steps: int, overrides: dict,
          label: str = '') -> Stage:
  flags = (f'--config={config}', f'--workdir={workdir}', f'--config.phase={phase}',
           *config_flags(overrides), f'--config.num_train_steps={steps}')
  return Train(workdir=workdir, flags=flags, phase=phase, steps=steps, label=label or phase)


def evaluate(workdir: str, phase: str, prior_phase: str, overrides: dict, label: str = '') -> Stage:
  flags = (f'--workdir={workdir}', f'--config.phase={phase}',
           f'--config.eval.prior_phase={prior_phase}', *config_flags(overrides))
  stage = Evaluate(workdir=workdir, flags=flags, phase=phase, prior_phase=prior_phase)
  return dataclasses.replace(stage, label=label or f'eval {stage.result_key}')


def features(workdir: str, config: str, overrides: dict, label: str) -> Stage:
  flags = (f'--config={config}', f'--workdir={workdir}', *config_flags(overrides))
  return Features(workdir=workdir, flags=flags, label=label)


@dataclasses.dataclass(frozen=True)
class Settings:
  """Where a recipe runs and what it adds to every command (the pipeline's flags).

  train_overrides / eval_overrides: appended to every train / evaluate command (e.g. LEVERS_OFF,
  or a tiny evaluation for a rehearsal); vae_steps / glow_steps: 0 takes the recipe's budget."""
  root: str
  out: str = ''
  config: str = DEMO_CONFIG
  seeds: tuple[int, ...] = ()
  cells: tuple[str, ...] = ()
  features: str = 'workdirs/feature_extractor/fashion_mnist'
  features2: str = 'workdirs/feature_extractor/fashion_mnist_pooled'
  vae_steps: int = 0
  glow_steps: int = 0
  train_overrides: tuple[tuple[str, object], ...] = ()
  eval_overrides: tuple[tuple[str, object], ...] = ()
  stage1: str = ''                 # ablation: the phase-1 work directory every variant builds on
  variants: tuple[str, ...] = ()   # ablation: which variants (default: all, in ABLATION order)


def demo(s: Settings) -> list[Stage]:
  """The README demo: phase 1 (VAE + flow prior), then the Glow layer on the frozen VAE."""
  extra = dict(s.train_overrides)
  return [train(s.root, s.config, 'vae', s.vae_steps or DEMO_VAE_STEPS, extra),
          train(s.root, s.config, 'glow', s.glow_steps or DEMO_GLOW_STEPS, extra)]


def _feature_stages(s: Settings) -> list[Stage]:
  return [features(s.features, s.config, {}, 'features'),
          features(s.features2, s.config, {'feature_extractor.arch': 'pooled',
                                           'feature_extractor.seed': 1}, 'features2')]


def factorial(s: Settings) -> list[Stage]:
  """Decoder variance {gamma, diagonal} x phase-1 prior {N(0, I) 'standard', joint 'flow'} x
  seeds. Per cell and seed: phase 1, a post-hoc flow prior on the frozen VAE (as many steps), a
  Glow layer; each evaluated as FACTORIAL_CHAINS in two feature spaces, then copied to
  OUT/<cell>/seed<S>/."""
  vae_steps = s.vae_steps or FACTORIAL_VAE_STEPS
  glow_steps = s.glow_steps or FACTORIAL_GLOW_STEPS
  stages = _feature_stages(s)
  evaluation = {**FACTORIAL_EVAL, 'eval.feature_extractor_dir': s.features,
                'eval.feature_extractor_dir_2': s.features2, **dict(s.eval_overrides)}
  for seed in s.seeds or (0, 1):
    for cell in s.cells or FACTORIAL_CELLS:
      variance, prior = cell.split('_')
      run = f'{cell}/seed{seed}'
      workdir = f'{s.root}/{run}'
      model = {'seed': seed, 'model.variance': variance}
      extra = dict(s.train_overrides)
      stages += [
          train(workdir, s.config, 'vae', vae_steps,
                {**model, 'model.prior.kind': prior, **extra}, f'{run} vae'),
          train(workdir, s.config, 'prior', vae_steps,
                {**model, 'model.prior.kind': 'flow', **extra}, f'{run} prior'),
          train(workdir, s.config, 'glow', glow_steps,
                {**model, 'model.prior.kind': prior, **extra}, f'{run} glow')]
      stages += [evaluate(workdir, phase, prior_phase, evaluation,
                          f'{workdir} eval {phase}{"+" + prior_phase if prior_phase else ""}')
                 for phase, prior_phase in FACTORIAL_CHAINS]
      if s.out:
        stages.append(Copy(workdir=workdir, label=f'{run} copy', copy_to=f'{s.out}/{run}',
                            copy_phases=('vae', 'prior', 'glow'),
                            copy_figures=FACTORIAL_FIGURES))
  return stages


def budget(s: Settings) -> list[Stage]:
  """The budget direction: the factorial's two cells at 4x its phase 1 and 8x its
  Glow layer, with the CPU levers off as seed 0 was trained."""
  return factorial(dataclasses.replace(
      s, cells=s.cells or BUDGET_CELLS, vae_steps=s.vae_steps or BUDGET_VAE_STEPS,
      glow_steps=s.glow_steps or BUDGET_GLOW_STEPS,
      train_overrides=tuple({**LEVERS_OFF, **dict(s.train_overrides)}.items())))


def budget16(s: Settings) -> list[Stage]:
  """The budget recipe's runs (s.stage1: its root) carried on to 16x the factorial's Glow-layer
  steps: each cell and seed (default seed 0) forked into ROOT/<cell>/seed<S> without its Glow-layer
  evaluations, then the budget recipe's stages there with BUDGET16_GLOW_STEPS. Phase 1 and the
  post-hoc prior are done in the fork; the Glow layer resumes from its 2,000-step checkpoint,
  which is the run trained to 4,000 from the start (the learning rate halves per epoch)."""
  source = s.stage1 or DEFAULT_ROOTS['budget'][0]
  seeds = s.seeds or (0,)
  plan = budget(dataclasses.replace(s, seeds=seeds, glow_steps=s.glow_steps or BUDGET16_GLOW_STEPS))
  forks = [Fork(workdir=f'{s.root}/{cell}/seed{seed}', label=f'{cell}/seed{seed} fork',
                 fork_from=f'{source}/{cell}/seed{seed}', fork_drop=('glow', 'glow+prior'))
           for seed in seeds for cell in s.cells or BUDGET_CELLS]
  features = [stage for stage in plan if stage.kind == 'features']
  return features + forks + [stage for stage in plan if stage.kind != 'features']


def budget_x16(s: Settings) -> list[Stage]:
  """The budget recipe's cells (gamma N(0, I), diagonal joint flow) trained from scratch at 16x
  the factorial's phase-1 (and post-hoc prior) steps and 32x its Glow-layer steps, levers off,
  the learning rate halved every X16_HALVE_EVERY_STEPS steps; seeds 0 and 1 by default; then the
  gap between the two cells at 1x / 4x / 16x (report --trend: OUT/trend.md and trend.png)."""
  extra = {**LEVERS_OFF, 'lr_halve_every_steps': X16_HALVE_EVERY_STEPS, **dict(s.train_overrides)}
  stages = factorial(dataclasses.replace(
      s, cells=s.cells or BUDGET_CELLS, seeds=s.seeds or (0, 1),
      vae_steps=s.vae_steps or X16_VAE_STEPS, glow_steps=s.glow_steps or X16_GLOW_STEPS,
      train_overrides=tuple(extra.items())))
  if s.out:  # the gap's trend over the three budgets: a table and a plot
    folders = ','.join((DEFAULT_ROOTS['factorial'][1], DEFAULT_ROOTS['budget'][1], s.out))
    stages.append(Report(workdir=s.root, flags=(f'--trend={folders}', '--trend_labels=1x,4x,16x',
                                           f'--out={s.out}/trend.md'), label='trend'))
  return stages


def glow_layer_seeds(s: Settings) -> list[Stage]:
  """The Glow-layer criterion over phase-1 seeds: the demo's two phases per seed, then the Glow
  layer evaluated (SEEDS_EVAL) and copied to OUT/seed<S>/."""
  stages = _feature_stages(s)[:1]
  evaluation = {**SEEDS_EVAL, 'eval.feature_extractor_dir': s.features, **dict(s.eval_overrides)}
  for seed in s.seeds or (0, 1, 2):
    workdir = f'{s.root}/seed{seed}'
    extra = {'seed': seed, **dict(s.train_overrides)}
    stages += [train(workdir, s.config, 'vae', s.vae_steps or DEMO_VAE_STEPS, extra,
                     f'seed{seed} vae'),
               train(workdir, s.config, 'glow', s.glow_steps or DEMO_GLOW_STEPS, extra,
                     f'seed{seed} glow'),
               evaluate(workdir, 'glow', '', evaluation, f'seed{seed} eval glow')]
    if s.out:
      stages.append(Copy(workdir=workdir, label=f'seed{seed} copy', copy_to=f'{s.out}/seed{seed}',
                          copy_phases=('glow',), copy_layout='flat', copy_figures=tuple(
                              f'glow/{f}' for f in ('decoder_mean_vs_glow.png', 'samples_T0.png',
                                                    'samples_T0.5.png'))))
  if s.out:
    runs = [f'{s.root}/seed{seed}' for seed in s.seeds or (0, 1, 2)]
    stages.append(Report(workdir=s.root, flags=('--ablation', *runs, f'--out={s.out}/table.md'),
                        label='table'))
    stages.append(Report(workdir=s.root, flags=(f'--criterion={s.out}', f'--out={s.out}/criterion.md'),
                        label='criterion'))
  return stages


# The Glow-layer ablation: phase-2 variants on ONE frozen phase-1 VAE, each a delta on
# the quick preset (shuffle mixing, width 128, additive coupling, lr 5e-4, DEMO_GLOW_STEPS).
ABLATION = {
    'base': {},
    'mixing_none': {'model.glow.mixing': 'none'},
    'mixing_reverse': {'model.glow.mixing': 'reverse'},
    'width32': {'model.glow.hidden': 32},
    'width256': {'model.glow.hidden': 256},
    'affine': {'model.glow.coupling': 'affine'},
    'lr2e-3': {'learning_rate': 2e-3},
    # The budget curve halves the learning rate every 4 epochs (3,436 steps), not every epoch (the
    # preset's): 8,000 steps are 9.3 epochs, and halving every epoch would leave 1e-6 for the last.
    'steps2000': {'num_train_steps': 2000, 'lr_halve_every_steps': 4 * 859},
    'steps8000': {'num_train_steps': 8000, 'lr_halve_every_steps': 4 * 859},
}


def ablation(s: Settings) -> list[Stage]:
  """Each variant's Glow layer trained into ROOT/<variant> on the frozen phase 1 of s.stage1,
  then evaluated (SEEDS_EVAL: 2,000 test images, IW K=4; 2,000 samples at T = 0, 0.5, 1); with an
  OUT folder, the table (OUT/ablation.md) and each variant's metrics, config and figures."""
  evaluation = {**SEEDS_EVAL, 'eval.feature_extractor_dir': s.features, **dict(s.eval_overrides)}
  stages = []
  for name in s.variants or tuple(ABLATION):
    delta = dict(ABLATION[name])
    steps = delta.pop('num_train_steps', s.glow_steps or DEMO_GLOW_STEPS)
    workdir = f'{s.root}/{name}'
    stages += [train(workdir, s.config, 'glow', steps,
                     {'stage1_workdir': s.stage1, **delta, **dict(s.train_overrides)}, f'{name} glow'),
               evaluate(workdir, 'glow', '', evaluation, f'{name} eval glow')]
  if s.out:
    names = s.variants or tuple(ABLATION)
    stages.append(Report(workdir=s.root, flags=('--ablation', *(f'{s.root}/{n}' for n in names),
                                           f'--out={s.out}/ablation.md'), label='table'))
    stages += [Copy(workdir=f'{s.root}/{name}', label=f'{name} copy', copy_to=f'{s.out}/{name}',
                     copy_phases=('glow',), copy_layout='flat',
                     copy_figures=('glow/decoder_mean_vs_glow.png', 'glow/samples_T0.5.png'))
               for name in names]
  return stages


def main_table(s: Settings) -> list[Stage]:
  """RESULTS.md's main table: a scalar-variance VAE with its two post-hoc priors (the two-stage
  VAE's second stage, a flow prior), the full model (the demo), and the multi-scale Glow (affine,
  and additive as in the paper) for the full model's training time (benchmarks.equal_time: the
  baseline steps that take as long as DEMO_VAE_STEPS + DEMO_GLOW_STEPS full-model steps, timed
  side by side); every run evaluated on the whole test split (IW K=16) and the table written to
  OUT/table.md with each run's figures in OUT/<run>/."""
  root, extra = s.root, dict(s.train_overrides)
  gamma = {'model.variance': 'gamma'}
  budget = f'{root}/equal_time.json'
  baseline = {'checkpoint_every_steps': 1000, 'sample_every_steps': 1000, **extra}
  stages = _feature_stages(s)[:1] + [
      train(f'{root}/vae_gamma', s.config, 'vae', DEMO_VAE_STEPS,
            {**gamma, 'model.prior.kind': 'standard', **extra}, 'vae_gamma vae'),
      train(f'{root}/vae_gamma', s.config, 'second_stage', DEMO_VAE_STEPS,
            {**gamma, 'model.prior.kind': 'standard', **extra}, 'vae_gamma second_stage'),
      train(f'{root}/vae_gamma', s.config, 'prior', DEMO_VAE_STEPS,
            {**gamma, 'model.prior.kind': 'flow', **extra}, 'vae_gamma prior'),
      *[dataclasses.replace(stage, label=f'full {stage.label}')
        for stage in demo(dataclasses.replace(s, root=f'{root}/full'))],
      Run(workdir=root, flags=(f'--out={budget}',), module='benchmarks.equal_time', creates=budget,
            label='equal-time budget')]
  for name, coupling, key in (('glow_baseline', {}, 'baseline_steps'),
                              ('glow_baseline_additive',
                               {'model.baseline.coupling': 'additive'}, 'baseline_steps_additive')):
    stage = train(f'{root}/{name}', s.config, 'glow_baseline', 0, {**coupling, **baseline}, name)
    stages.append(dataclasses.replace(stage, flags=stage.flags[:-1],  # its steps: from the budget
                                      steps_from=f'{budget}:{key}'))
  evaluation = {'eval.feature_extractor_dir': s.features, 'eval.iw_samples': 16,
                **dict(s.eval_overrides)}
  runs = {'vae_gamma': ('vae', 'prior', 'second_stage'), 'full': ('vae', 'glow'),
          'glow_baseline': ('glow_baseline',), 'glow_baseline_additive': ('glow_baseline',)}
  stages += [evaluate(f'{root}/{run}', phase, '', evaluation, f'{run} eval {phase}')
             for run, phases in runs.items() for phase in phases]
  if s.out:
    stages.append(Report(workdir=root, flags=(*(f'{root}/{run}' for run in runs),
                                         f'--out={s.out}/table.md'), label='table'))
    stages += [Copy(workdir=f'{root}/{run}', label=f'{run} copy', copy_to=f'{s.out}/{run}',
                     copy_figures=('*/*.png',), copy_layout='folders') for run in runs]
  return stages


# The paper's Table 1 over seeds: latent priors for one scalar-gamma VAE per seed, at the
# factorial's budget. Each run's folder under OUT, and the chain of each table row.
TABLE1_SEEDS = (0, 1, 2, 3, 4)
TABLE1_ROWS = (  # (results folder, phase evaluated, row label)
    ('posthoc', 'vae', 'N(0, I)'),
    ('posthoc', 'second_stage', 'second-stage VAE (Dai & Wipf)'),
    ('posthoc', 'prior', 'post-hoc RealNVP prior'),
    ('maf_prior', 'prior', 'post-hoc MAF prior'),
    ('joint_flow', 'vae', 'VAE trained with a RealNVP prior'),
    ('joint_maf', 'vae', 'VAE trained with a MAF prior'))


def table1(s: Settings) -> list[Stage]:
  """The paper's Table 1 (a flow prior against the second-stage VAE, scalar-gamma decoder) over
  seeds (default 0-4), with both flow priors, at the factorial's budget and levers off. Per
  seed: the factorial's gamma N(0, I) VAE and its post-hoc RealNVP prior, and its gamma VAE
  trained with a RealNVP prior (the same stages in the same work directories under s.stage1,
  default the factorial's root, so runs the factorial made are reused); then the second-stage
  VAE on that N(0, I) VAE, a post-hoc MAF prior on it (ROOT/maf_prior/seed<S>), and a VAE
  trained with a MAF prior (ROOT/joint_maf/seed<S>). Every prior gets the VAE's steps. Each is
  evaluated as the factorial evaluates (decoder means, 2,000 samples, two feature spaces) and
  copied to OUT/<folder>/seed<S>/ (TABLE1_ROWS); then OUT/table.md."""
  steps = s.vae_steps or FACTORIAL_VAE_STEPS
  factorial_root = s.stage1 or DEFAULT_ROOTS['factorial'][0]
  seeds = s.seeds or TABLE1_SEEDS
  extra = {**LEVERS_OFF, **dict(s.train_overrides)}
  shared = factorial(dataclasses.replace(s, root=factorial_root, out='', seeds=seeds,
                                         cells=('gamma_standard', 'gamma_flow'),
                                         train_overrides=tuple(extra.items())))
  wanted = {('gamma_standard', 'vae'), ('gamma_standard', 'prior'), ('gamma_flow', 'vae')}
  stages = [stage for stage in shared if stage.kind == 'features']
  evaluation = {**FACTORIAL_EVAL, 'eval.feature_extractor_dir': s.features,
                'eval.feature_extractor_dir_2': s.features2, **dict(s.eval_overrides)}
  for seed in seeds:
    if s.out and _table1_seed_copied(s.out, seed):  # its results are already committed: done
      continue
    vae = f'{factorial_root}/gamma_standard/seed{seed}'
    workdirs = {'posthoc': vae, 'joint_flow': f'{factorial_root}/gamma_flow/seed{seed}',
                'maf_prior': f'{s.root}/maf_prior/seed{seed}',
                'joint_maf': f'{s.root}/joint_maf/seed{seed}'}
    mine = [stage for stage in shared
            if (stage.kind == 'train' or stage.kind == 'evaluate' and not stage.prior_phase)
            and stage.workdir.endswith(f'/seed{seed}')
            and (stage.workdir.split('/')[-2], stage.phase) in wanted]
    model = {'seed': seed, 'model.variance': 'gamma'}
    mine += [
        train(vae, s.config, 'second_stage', steps,
              {**model, 'model.prior.kind': 'standard', **extra}, f'seed{seed} second_stage'),
        train(workdirs['maf_prior'], s.config, 'prior', steps,
              {**model, 'model.prior.kind': 'maf', 'stage1_workdir': vae, **extra},
              f'seed{seed} maf_prior'),
        train(workdirs['joint_maf'], s.config, 'vae', steps,
              {**model, 'model.prior.kind': 'maf', **extra}, f'seed{seed} joint_maf')]
    mine += [evaluate(workdirs[folder], phase, '', evaluation, f'seed{seed} eval {folder} {phase}')
             for folder, phase, _ in TABLE1_ROWS
             if (folder, phase) not in (('posthoc', 'vae'), ('posthoc', 'prior'), ('joint_flow', 'vae'))]
    stages += mine
    if s.out:
      for folder in dict.fromkeys(f for f, _, _ in TABLE1_ROWS):
        phases = tuple(p for f, p, _ in TABLE1_ROWS if f == folder)
        stages.append(Copy(workdir=workdirs[folder], label=f'seed{seed} copy {folder}',
                            copy_to=f'{s.out}/{folder}/seed{seed}', copy_phases=phases,
                            copy_figures=tuple(f'{p}/samples_T0.5.png' for p in phases)))
  if s.out:
    stages.append(Report(workdir=s.root, flags=(f'--table1={s.out}', f'--out={s.out}/table.md'),
                        label='table'))
  return stages


def _table1_seed_copied(out: str, seed: int) -> bool:
  """Whether OUT holds every Table 1 row of `seed` (each folder's metrics.json with its phase):
  the work directories may be gone (another machine, a cleaned disk), the results are not."""
  from vaeglow_jax.io import files as files_lib
  for folder, phase, _ in TABLE1_ROWS:
    metrics = files_lib.read_json(f'{out}/{folder}/seed{seed}/metrics.json') or {}
    if phase not in metrics:
      return False
  return True


RECIPES = {'main_table': main_table, 'demo': demo, 'factorial': factorial, 'budget': budget,
           'budget16': budget16, 'glow_layer_seeds': glow_layer_seeds, 'ablation': ablation,
           'table1': table1, 'budget_x16': budget_x16}
# Where each recipe runs and writes by default (flags override).
DEFAULT_ROOTS = {'main_table': ('workdirs/results', 'results/fashion_mnist/main_table_today'),
                 'demo': ('workdirs/fashion_mnist_quick', ''),
                 'factorial': ('workdirs/factorial', 'results/fashion_mnist/factorial'),
                 'budget': ('workdirs/budget', 'results/fashion_mnist/budget'),
                 'budget16': ('workdirs/budget16', 'results/fashion_mnist/budget16'),
                 'glow_layer_seeds': ('workdirs/glow_layer_seeds',
                                      'results/fashion_mnist/glow_layer_seeds_today'),
                 'ablation': ('workdirs/results/ablation', ''),
                 'table1': ('workdirs/table1', 'results/fashion_mnist/table1'),
                 'budget_x16': ('workdirs/budget_x16', 'results/fashion_mnist/budget_x16')}
