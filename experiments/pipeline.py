r"""Runs a recipe of experiments.recipes, skipping every stage already done.

  python -m experiments.pipeline demo [--root=workdirs/fashion_mnist_quick]
  python -m experiments.pipeline factorial --seeds=3,4 [--cells=gamma_standard] \
      [--root=...] [--out=...] [--train_arg=model.conv_impl=xla --train_arg=cpu_devices=1]
  python -m experiments.pipeline budget --seeds=0,1,2
  python -m experiments.pipeline budget16 [--stage1=workdirs/budget]   # the budget runs, longer
  python -m experiments.pipeline glow_layer_seeds --seeds=0,1,2
  python -m experiments.pipeline ablation --stage1=workdirs/results/full [--variants=base,width32]
  python -m experiments.pipeline factorial --seeds=0 --list   # the stages, done or to do

Each stage is a command (experiments.train, .evaluate, .train_feature_extractor, .report) in its
own process, run as this one is run (nice it to run it at low priority). A stage that is done is
skipped, so a rerun after a kill, a reboot or a session's end carries the recipe on; a train stage
that was interrupted resumes from its last checkpoint. Each stage run is logged with its seconds
to OUT/runs.tsv when the recipe has an OUT folder. Exit: 0 done; 2 bad input; a failed stage's
exit status (the recipe stops there; rerun to continue).
"""

from __future__ import annotations

import ast
import os
import sys

from absl import flags

from vaeglow_jax.cli import common as cli
from experiments import recipes
from experiments import stages as stages_lib

_ROOT = flags.DEFINE_string('root', '', 'Where the work directories go (default: the recipe\'s).')
_OUT = flags.DEFINE_string('out', None, 'The results folder runs are copied to (default: the '
                           "recipe's; '' copies nothing).")
_CONFIG = flags.DEFINE_string('train_config', recipes.DEMO_CONFIG, 'The config file (path[:preset]) '
                               'every run trains with.')
_SEEDS = flags.DEFINE_list('seeds', [], 'Seeds (default: the recipe\'s).')
_CELLS = flags.DEFINE_list('cells', [], 'factorial/budget: cells <variance>_<prior> (default: all '
                           'of the recipe\'s).')
_FEATURES = flags.DEFINE_string('features', recipes.Settings('').features,
                                'The FID classifier\'s work directory.')
_FEATURES2 = flags.DEFINE_string('features2', recipes.Settings('').features2,
                                 'The second (pooled) classifier\'s work directory.')
_VAE_STEPS = flags.DEFINE_integer('vae_steps', 0, 'Phase-1 (and post-hoc prior) steps; 0: the '
                                  'recipe\'s budget.')
_GLOW_STEPS = flags.DEFINE_integer('glow_steps', 0, 'Glow-layer steps; 0: the recipe\'s budget.')
_TRAIN_ARGS = flags.DEFINE_multi_string('train_arg', [], 'KEY=VALUE: a config override for every '
                                        'train stage (repeat it; e.g. model.conv_impl=xla).')
_EVAL_ARGS = flags.DEFINE_multi_string('eval_arg', [], 'KEY=VALUE: a config override for every '
                                       'evaluation (repeat it; e.g. eval.max_test_examples=32).')
_STAGE1 = flags.DEFINE_string('stage1', '', 'ablation: the phase-1 work directory the variants '
                              'build on; budget16: the budget recipe\'s root it continues '
                              '(default: workdirs/budget).')
_VARIANTS = flags.DEFINE_list('variants', [], 'ablation: the variants (default: all of '
                              'experiments.recipes.ABLATION).')
_LIST = flags.DEFINE_bool('list', False, 'Print the stages, each done or to do, and run nothing.')


def _overrides(pairs: list[str], flag: str) -> tuple[tuple[str, object], ...]:
  out = []
  for pair in pairs:
    key, sep, value = pair.partition('=')
    if not sep or not key:
      cli.fail(f'--{flag}: {pair!r} is not KEY=VALUE (e.g. model.conv_impl=xla).')
    try:
      value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      pass  # a string such as xla
    out.append((key, value))
  return tuple(out)


def settings(name: str) -> recipes.Settings:
  root, out = recipes.DEFAULT_ROOTS[name]
  try:
    seeds = tuple(int(s) for s in _SEEDS.value)
  except ValueError:
    cli.fail(f'--seeds must be integers, got {",".join(_SEEDS.value)}.')
  cells = tuple(_CELLS.value)
  unknown = [c for c in cells if c not in recipes.FACTORIAL_CELLS]
  if unknown:
    cli.fail(f'--cells: unknown {", ".join(unknown)}; choose from '
             f'{", ".join(recipes.FACTORIAL_CELLS)}.')
  unknown = [v for v in _VARIANTS.value if v not in recipes.ABLATION]
  if unknown:
    cli.fail(f'--variants: unknown {", ".join(unknown)}; choose from {", ".join(recipes.ABLATION)}.')
  if name == 'ablation' and not _STAGE1.value:
    cli.fail('the ablation needs --stage1=DIR, the phase-1 work directory its variants build on.')
  return recipes.Settings(
      root=_ROOT.value or root, out=out if _OUT.value is None else _OUT.value,
      config=_CONFIG.value, seeds=seeds, cells=cells, features=_FEATURES.value,
      features2=_FEATURES2.value, vae_steps=_VAE_STEPS.value, glow_steps=_GLOW_STEPS.value,
      train_overrides=_overrides(_TRAIN_ARGS.value, 'train_arg'),
      eval_overrides=_overrides(_EVAL_ARGS.value, 'eval_arg'), stage1=_STAGE1.value,
      variants=tuple(_VARIANTS.value))


def main(argv):
  if len(argv) != 2 or argv[1] not in recipes.RECIPES:
    cli.fail(f'give one recipe: {", ".join(recipes.RECIPES)} (e.g. python -m '
             'experiments.pipeline demo).')
  config = settings(argv[1])
  stages = recipes.RECIPES[argv[1]](config)
  if _LIST.value:
    try:
      for number, stage in enumerate(stages, 1):
        print(f'{number:3d} {"done " if stage.is_done() else "to do"} {stage.label}',
              flush=True)
    except BrokenPipeError:  # `... --list | head`: the reader has what it wanted
      os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return
  status = stages_lib.run(stages, config.out)
  if status:
    raise SystemExit(status)


if __name__ == '__main__':
  cli.run(main)

