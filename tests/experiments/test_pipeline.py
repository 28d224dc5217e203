"""experiments.recipes and experiments.pipeline: the recipes run the commands the shell scripts
ran, a rerun skips what is done, and a failed stage stops the recipe where a rerun picks it up."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT
from experiments import recipes, stages

QUICK = 'experiments/configs/fashion_mnist.py:quick'


def _flags(stage):
  return sorted(stage.flags)


def test_the_demo_is_the_two_commands_demo_sh_ran():
  plan = recipes.demo(recipes.Settings(root='w'))
  # scripts/demo.sh before the recipes (be3f886), one command per phase:
  old = [f'--config={QUICK} --workdir=w --config.phase=vae --config.num_train_steps=1200',
         f'--config={QUICK} --workdir=w --config.phase=glow --config.num_train_steps=500']
  assert [s.kind for s in plan] == ['train', 'train']
  assert [_flags(s) for s in plan] == [sorted(c.split()) for c in old]
  assert [(s.phase, s.steps) for s in plan] == [('vae', 1200), ('glow', 500)]


def test_a_factorial_cell_is_the_commands_factorial_sh_ran():
  settings = recipes.Settings(root='r', out='o', seeds=(3,), cells=('gamma_flow',),
                              features='fe', features2='fe2',
                              train_overrides=tuple(recipes.LEVERS_OFF.items()))
  plan = recipes.factorial(settings)
  levers = '--config.model.conv_impl=xla --config.cpu_devices=1'
  model = '--config.seed=3 --config.model.variance=gamma'
  evaluation = ('--config.eval.feature_extractor_dir=fe --config.eval.feature_extractor_dir_2=fe2 '
                '--config.eval.iw_samples=4 --config.eval.max_test_examples=2000 '
                '--config.eval.num_fid_samples=2000 --config.eval.temperatures=(0.0,0.25,0.5,0.75)')
  # What scripts/factorial.sh 3 ran for this cell at be3f886 (TRAIN_ARGS = the levers off).
  old = [
      ('features', f'--config={QUICK} --workdir=fe'),
      ('features', f'--config={QUICK} --workdir=fe2 --config.feature_extractor.arch=pooled '
                   '--config.feature_extractor.seed=1'),
      ('train', f'--config={QUICK} --workdir=r/gamma_flow/seed3 --config.phase=vae {model} '
                f'--config.num_train_steps=600 --config.model.prior.kind=flow {levers}'),
      ('train', f'--config={QUICK} --workdir=r/gamma_flow/seed3 --config.phase=prior {model} '
                f'--config.num_train_steps=600 --config.model.prior.kind=flow {levers}'),
      ('train', f'--config={QUICK} --workdir=r/gamma_flow/seed3 --config.phase=glow {model} '
                '--config.model.prior.kind=flow --config.num_train_steps=250 '
                f'{levers}'),
      ('evaluate', f'--workdir=r/gamma_flow/seed3 --config.phase=vae --config.eval.prior_phase= {evaluation}'),
      ('evaluate', f'--workdir=r/gamma_flow/seed3 --config.phase=prior --config.eval.prior_phase= {evaluation}'),
      ('evaluate', f'--workdir=r/gamma_flow/seed3 --config.phase=glow --config.eval.prior_phase= {evaluation}'),
      ('evaluate', f'--workdir=r/gamma_flow/seed3 --config.phase=glow --config.eval.prior_phase=prior {evaluation}'),
  ]
  assert [(s.kind, _flags(s)) for s in plan[:-1]] == [(k, sorted(c.split())) for k, c in old]
  copy = plan[-1]
  assert (copy.kind, copy.copy_to, copy.copy_phases) == ('copy', 'o/gamma_flow/seed3',
                                                         ('vae', 'prior', 'glow'))
  assert len(copy.copy_figures) == 12 and 'glow+prior/samples_T0.5.png' in copy.copy_figures
  # runs.tsv labels, as factorial.sh wrote them.
  assert [s.label for s in plan[2:6]] == ['gamma_flow/seed3 vae', 'gamma_flow/seed3 prior',
                                            'gamma_flow/seed3 glow', 'r/gamma_flow/seed3 eval vae']


def test_the_budget_recipe_is_the_factorial_at_its_budget_with_the_levers_off():
  plan = recipes.budget(recipes.Settings(root='b', seeds=(1,)))
  trains = [s for s in plan if s.kind == 'train']
  assert [(s.workdir, s.phase, s.steps) for s in trains] == [
      (f'b/{cell}/seed1', phase, steps) for cell in ('gamma_standard', 'diagonal_flow')
      for phase, steps in (('vae', 2400), ('prior', 2400), ('glow', 2000))]
  assert all({'--config.model.conv_impl=xla', '--config.cpu_devices=1'} <= set(s.flags)
             for s in trains)



def test_table1_reuses_the_factorials_gamma_runs_and_adds_its_priors_at_the_same_budget():
  settings = recipes.Settings(root='t', out='o', seeds=(2,), stage1='f', features='fe',
                              features2='fe2')
  plan = recipes.table1(settings)
  factorial = recipes.factorial(dataclasses.replace(
      settings, root='f', out='', cells=('gamma_standard', 'gamma_flow'),
      train_overrides=tuple(recipes.LEVERS_OFF.items())))
  # The factorial's own stages for the runs Table 1 shares with it, unchanged (so done ones are
  # skipped), and none of its Glow-layer stages.
  shared = [s for s in plan if s.workdir.startswith('f/') and s.kind in ('train', 'evaluate')
            and s.label.startswith(('gamma_', 'f/'))]
  assert all(s in factorial for s in shared)
  assert sorted((s.workdir, s.kind, s.phase) for s in shared) == sorted([
      ('f/gamma_standard/seed2', 'train', 'vae'), ('f/gamma_standard/seed2', 'train', 'prior'),
      ('f/gamma_standard/seed2', 'evaluate', 'vae'), ('f/gamma_standard/seed2', 'evaluate', 'prior'),
      ('f/gamma_flow/seed2', 'train', 'vae'), ('f/gamma_flow/seed2', 'evaluate', 'vae')])
  new = {(s.workdir, s.phase): s for s in plan if s.kind == 'train' and s not in shared}
  assert set(new) == {('f/gamma_standard/seed2', 'second_stage'), ('t/maf_prior/seed2', 'prior'),
                      ('t/joint_maf/seed2', 'vae')}
  for stage in new.values():
    assert stage.steps == recipes.FACTORIAL_VAE_STEPS
    assert {'--config.seed=2', '--config.model.variance=gamma', '--config.model.conv_impl=xla',
            '--config.cpu_devices=1'} <= set(stage.flags)
  assert {'--config.model.prior.kind=maf', '--config.stage1_workdir=f/gamma_standard/seed2'} <= set(
      new[('t/maf_prior/seed2', 'prior')].flags)
  assert '--config.model.prior.kind=maf' in new[('t/joint_maf/seed2', 'vae')].flags
  # Every row of the table is evaluated as the factorial evaluates, and copied under its folder.
  evaluated = {(s.workdir, s.phase) for s in plan if s.kind == 'evaluate'}
  assert len(evaluated) == len(recipes.TABLE1_ROWS) == 6
  assert all('--config.eval.num_fid_samples=2000' in s.flags for s in plan if s.kind == 'evaluate')
  copies = {s.copy_to: s.copy_phases for s in plan if s.kind == 'copy'}
  assert copies == {'o/posthoc/seed2': ('vae', 'second_stage', 'prior'),
                    'o/maf_prior/seed2': ('prior',), 'o/joint_flow/seed2': ('vae',),
                    'o/joint_maf/seed2': ('vae',)}
  assert plan[-1].kind == 'report' and '--table1=o' in plan[-1].flags


def test_table1_skips_the_seeds_whose_rows_are_all_in_the_results_folder(tmp_path):
  out = tmp_path / 'o'
  for folder, phase, _ in recipes.TABLE1_ROWS:  # seed 1 complete, seed 2 lacks one row
    for seed in (1, 2):
      path = out / folder / f'seed{seed}' / 'metrics.json'
      path.parent.mkdir(parents=True, exist_ok=True)
      metrics = json.loads(path.read_text()) if path.exists() else {}
      if (seed, folder, phase) != (2, 'maf_prior', 'prior'):
        metrics[phase] = {'fid_fashion_mnist': 1.0}
      path.write_text(json.dumps(metrics))
  plan = recipes.table1(recipes.Settings(root='t', out=str(out), seeds=(1, 2, 3), stage1='f'))
  seeds = {s.workdir.rsplit('seed', 1)[1] for s in plan if s.kind in ('train', 'evaluate', 'copy')}
  assert seeds == {'2', '3'}


def test_budget_x16_trains_both_cells_from_scratch_with_the_halving_scaled_to_the_run():
  plan = recipes.budget_x16(recipes.Settings(root='x'))
  trains = [s for s in plan if s.kind == 'train']
  assert [(s.workdir, s.phase, s.steps) for s in trains] == [
      (f'x/{cell}/seed{seed}', phase, steps) for seed in (0, 1)
      for cell in ('gamma_standard', 'diagonal_flow')
      for phase, steps in (('vae', 9600), ('prior', 9600), ('glow', 8000))]
  assert all({'--config.model.conv_impl=xla', '--config.cpu_devices=1',
              '--config.lr_halve_every_steps=3436'} <= set(s.flags) for s in trains)
  # The same two halvings over each run as the 4x / 8x runs had at 859 steps.
  assert 9600 // 3436 == 2400 // 859 == 2 and 8000 // 3436 == 2000 // 859 == 2
  assert not [s for s in plan if s.label == 'trend']  # no results folder, no trend
  trend = recipes.budget_x16(recipes.Settings(root='x', out='o'))[-1]
  assert trend.kind == 'report' and trend.flags == (
      '--trend=results/fashion_mnist/factorial,results/fashion_mnist/budget,o',
      '--trend_labels=1x,4x,16x', '--out=o/trend.md')


def test_budget16_forks_the_8x_runs_then_runs_what_results_sh_ran_there_with_the_levers_off():
  plan = recipes.budget16(recipes.Settings(root='r16', stage1='r8', features='fe'))
  forks = [s for s in plan if s.kind == 'fork']
  assert [(s.workdir, s.fork_from, s.fork_drop) for s in forks] == [
      (f'r16/{cell}/seed0', f'r8/{cell}/seed0', ('glow', 'glow+prior'))
      for cell in ('gamma_standard', 'diagonal_flow')]
  kinds = [s.kind for s in plan]
  assert kinds.index('train') > max(i for i, k in enumerate(kinds) if k == 'fork')
  # results.sh's budget stage at 7e37620, after copying the 8x work directories: per cell
  # `CELLS=$cell VAE_STEPS=2400 GLOW_STEPS=4000 ROOT=r16 bash scripts/factorial.sh 0`, i.e. the
  # factorial recipe of that cell; the recipe adds the levers off (seed 0 predates them).
  old = [s for cell in ('gamma_standard', 'diagonal_flow') for s in recipes.factorial(
      recipes.Settings(root='r16', seeds=(0,), cells=(cell,), vae_steps=2400, glow_steps=4000,
                       features='fe'))]
  old = old[:2] + [s for s in old[2:] if s.kind != 'features']  # factorial.sh ran them per cell
  levers = ('--config.model.conv_impl=xla', '--config.cpu_devices=1')
  steps = lambda s: getattr(s, 'steps', None)  # noqa: E731  (a train stage's)
  assert [(s.kind, s.label, steps(s), sorted(s.flags)) for s in plan if s.kind != 'fork'] == [
      (s.kind, s.label, steps(s), sorted(s.flags + (levers if s.kind == 'train' else ())))
      for s in old]
  assert {s.steps for s in plan if s.kind == 'train' and s.phase == 'glow'} == {4000}


def _trained_run(root):
  """A work directory with two trained phases, each evaluated, as bytes that name their path."""
  files = ['vae/config.json', 'vae/checkpoints/2400/state', 'glow/config.json',
           'glow/checkpoints/2000/state', 'eval/vae/samples_T0.png', 'eval/glow/samples_T0.png',
           'eval/glow+prior/samples_T0.png']
  for name in files:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(name)
  (root / 'eval' / 'metrics.json').write_text(json.dumps(
      {'vae': {'bpd': 5.0}, 'glow': {'bpd': 4.9}, 'glow+prior': {'bpd': 4.8}}))
  return root


def _files(root):
  return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f)).read()
          for d, _, names in os.walk(root) for f in names}


def test_a_fork_copies_a_run_but_the_dropped_evaluations_once_and_refuses_a_foreign_folder(
    tmp_path):
  source = _trained_run(tmp_path / 'r8')
  before = _files(source)
  fork = stages.Fork(workdir=str(tmp_path / 'r16'), label='fork', fork_from=str(source),
                      fork_drop=('glow', 'glow+prior'))
  assert not fork.is_done()
  assert stages.run([fork], runner=None, log=lambda *a: None) == 0  # runs no command
  copied = _files(tmp_path / 'r16')
  assert json.loads(copied.pop('eval/metrics.json')) == {'vae': {'bpd': 5.0}}
  assert json.loads(copied.pop(stages.FORK_DONE)) == {'source': str(source),
                                                      'dropped': ['glow', 'glow+prior']}
  assert copied == {k: v for k, v in before.items()  # checkpoints and configs, byte for byte
                    if k != 'eval/metrics.json' and not k.startswith('eval/glow')}
  assert _files(source) == before  # the source is read only
  assert fork.is_done()
  (tmp_path / 'r16' / 'glow' / 'checkpoints' / '4000').mkdir()  # trained on: a rerun keeps it
  assert stages.run([fork], runner=None, log=lambda *a: None) == 0
  assert (tmp_path / 'r16' / 'glow' / 'checkpoints' / '4000').is_dir()
  # A fork interrupted mid-copy is copied again; a folder that is no fork of it is refused as is.
  interrupted = tmp_path / 'interrupted'
  (interrupted / 'vae').mkdir(parents=True)
  (interrupted / stages.FORK_PARTIAL).write_text(json.dumps({'source': str(source)}))
  copied = dataclasses.replace(fork, workdir=str(interrupted)).fork()
  assert copied and not [path for path in copied if path.startswith('eval/glow')]  # never copied
  assert not (interrupted / stages.FORK_PARTIAL).exists()
  assert (interrupted / 'glow' / 'checkpoints' / '2000' / 'state').is_file()
  foreign = tmp_path / 'foreign'
  foreign.mkdir()
  (foreign / 'notes.txt').write_text('mine')
  with pytest.raises(stages.StageError, match='exists and is not a copy of'):
    dataclasses.replace(fork, workdir=str(foreign)).fork()
  assert _files(foreign) == {'notes.txt': 'mine'}
  with pytest.raises(stages.StageError, match='is no work directory'):
    dataclasses.replace(fork, fork_from=str(tmp_path / 'missing')).fork()
  # Every evaluation dropped: metrics.json is left empty, not the source's.
  everything = dataclasses.replace(fork, workdir=str(tmp_path / 'bare'),
                                   fork_drop=('vae', 'glow', 'glow+prior'))
  everything.fork()
  assert json.loads((tmp_path / 'bare' / 'eval' / 'metrics.json').read_text()) == {}


def test_the_ablation_is_the_commands_ablation_sh_ran():
  plan = recipes.ablation(recipes.Settings(root='o', stage1='p1', features='fe',
                                           variants=('base', 'steps2000', 'lr2e-3')))
  evaluation = ('--config.phase=glow --config.eval.prior_phase= --config.eval.feature_extractor_dir=fe '
                '--config.eval.iw_samples=4 --config.eval.max_test_examples=2000 '
                '--config.eval.num_fid_samples=2000 --config.eval.temperatures=(0.0,0.5,1.0)')
  train = (f'--config={QUICK} --config.phase=glow --config.stage1_workdir=p1 '
           '--config.num_train_steps={}')
  # What scripts/ablation.sh p1 o base steps2000 lr2e-3 ran at be3f886 (a later
  # --config.num_train_steps won; the same value once here), with its 4-epoch halving now
  # counted in steps (4 x 859, the same schedule on Fashion-MNIST).
  old = [('train', train.format(500) + ' --workdir=o/base'),
         ('evaluate', f'--workdir=o/base {evaluation}'),
         ('train', train.format(2000) + ' --workdir=o/steps2000 --config.lr_halve_every_steps=3436'),
         ('evaluate', f'--workdir=o/steps2000 {evaluation}'),
         ('train', train.format(500) + ' --workdir=o/lr2e-3 --config.learning_rate=0.002'),
         ('evaluate', f'--workdir=o/lr2e-3 {evaluation}')]
  assert [(s.kind, _flags(s)) for s in plan] == [(k, sorted(c.split())) for k, c in old]
  assert list(recipes.ABLATION)[:3] == ['base', 'mixing_none', 'mixing_reverse']
  # With an OUT folder, results.sh's ablate stage at be3f886: the table, then each run copied.
  plan = recipes.ablation(recipes.Settings(root='o', out='res', stage1='p1', variants=('base', 'affine')))
  table, *copies = plan[4:]
  assert table.flags == ('--ablation', 'o/base', 'o/affine', '--out=res/ablation.md')
  assert [(c.workdir, c.copy_to, c.copy_phases, c.copy_layout, c.copy_figures) for c in copies] == [
      (f'o/{n}', f'res/{n}', ('glow',), 'flat',
       ('glow/decoder_mean_vs_glow.png', 'glow/samples_T0.5.png')) for n in ('base', 'affine')]


def test_the_main_table_is_the_commands_results_sh_ran_with_the_baselines_budget_from_its_benchmark(
    tmp_path):
  root = str(tmp_path)
  plan = recipes.main_table(recipes.Settings(root=root, out='res', features='fe'))
  by_label = {s.label: s for s in plan}
  gamma = '--config.model.variance=gamma'
  # scripts/results.sh train and evaluate at be3f886 (the quick preset's 1,200 steps implied).
  old_train = {
      'vae_gamma vae': f'--workdir={root}/vae_gamma --config.phase=vae {gamma} '
                       '--config.model.prior.kind=standard',
      'vae_gamma second_stage': f'--workdir={root}/vae_gamma --config.phase=second_stage {gamma} '
                                '--config.model.prior.kind=standard',
      'vae_gamma prior': f'--workdir={root}/vae_gamma --config.phase=prior {gamma} '
                         '--config.model.prior.kind=flow',
      'full vae': f'--workdir={root}/full --config.phase=vae',
      'full glow': f'--workdir={root}/full --config.phase=glow --config.num_train_steps=500'}
  for label, flags in old_train.items():
    want = {f'--config={QUICK}', *flags.split()}
    got = set(by_label[label].flags) - {'--config.num_train_steps=1200'}
    assert got == want, label
  budget = by_label['equal-time budget']
  assert budget.command()[1:] == ['-m', 'benchmarks.equal_time',
                                        f'--out={root}/equal_time.json']
  baseline = by_label['glow_baseline_additive']
  assert not budget.is_done() and not baseline.is_done()  # no budget yet
  (tmp_path / 'equal_time.json').write_text('{"baseline_steps": 3011, "baseline_steps_additive": 4077}')
  assert budget.is_done()
  assert baseline.command()[3:] == [
      f'--config={QUICK}', f'--workdir={root}/glow_baseline_additive', '--config.phase=glow_baseline',
      '--config.model.baseline.coupling=additive', '--config.checkpoint_every_steps=1000',
      '--config.sample_every_steps=1000', '--config.num_train_steps=4077']
  _finish_training(f'{root}/glow_baseline_additive', 'glow_baseline', 4077)
  assert baseline.is_done()
  evaluations = [s for s in plan if s.kind == 'evaluate']
  assert [(s.workdir[len(root) + 1:], s.phase) for s in evaluations] == [
      ('vae_gamma', 'vae'), ('vae_gamma', 'prior'), ('vae_gamma', 'second_stage'), ('full', 'vae'),
      ('full', 'glow'), ('glow_baseline', 'glow_baseline'), ('glow_baseline_additive', 'glow_baseline')]
  assert all({'--config.eval.feature_extractor_dir=fe', '--config.eval.iw_samples=16'} <= set(s.flags)
             for s in evaluations)
  report = by_label['table']
  assert report.flags[-1] == '--out=res/table.md' and len(report.flags) == 5
  copies = [s for s in plan if s.kind == 'copy']
  assert [(s.copy_to, s.copy_figures, s.copy_layout) for s in copies][0] == (
      'res/vae_gamma', ('*/*.png',), 'folders')


def test_the_glow_layer_seeds_are_the_commands_glow_layer_seeds_sh_ran():
  plan = recipes.glow_layer_seeds(recipes.Settings(root='g', out='o', features='fe', seeds=(1,)))
  evaluation = ('--workdir=g/seed1 --config.phase=glow --config.eval.prior_phase= '
                '--config.eval.feature_extractor_dir=fe --config.eval.iw_samples=4 '
                '--config.eval.max_test_examples=2000 --config.eval.num_fid_samples=2000 '
                '--config.eval.temperatures=(0.0,0.5,1.0)')
  old = [('features', f'--config={QUICK} --workdir=fe'),
         ('train', f'--config={QUICK} --workdir=g/seed1 --config.seed=1 --config.phase=vae '
                   '--config.num_train_steps=1200'),
         ('train', f'--config={QUICK} --workdir=g/seed1 --config.seed=1 --config.phase=glow '
                   '--config.num_train_steps=500'),
         ('evaluate', evaluation)]
  assert [(s.kind, _flags(s)) for s in plan[:4]] == [(k, sorted(c.split())) for k, c in old]
  copy, table, criterion = plan[4:]
  assert (copy.copy_to, copy.copy_layout, copy.copy_phases) == ('o/seed1', 'flat', ('glow',))
  assert table.kind == 'report' and table.flags == ('--ablation', 'g/seed1', '--out=o/table.md')
  assert criterion.kind == 'report' and criterion.flags == ('--criterion=o', '--out=o/criterion.md')


def _finish_training(workdir, phase, step):
  os.makedirs(os.path.join(workdir, phase, 'checkpoints', str(step)))


def test_a_rerun_runs_only_what_is_not_done_and_a_failure_stops_the_recipe(tmp_path):
  root = str(tmp_path / 'runs')
  settings = recipes.Settings(root=root, out=str(tmp_path / 'out'), seeds=(0,),
                              cells=('gamma_standard',), features=str(tmp_path / 'fe'),
                              features2=str(tmp_path / 'fe2'))
  plan = recipes.factorial(settings)
  workdir = f'{root}/gamma_standard/seed0'
  for features in ('fe', 'fe2'):
    os.makedirs(tmp_path / features)
    (tmp_path / features / 'feature_extractor.json').write_text('{}')
  _finish_training(workdir, 'vae', 600)
  _finish_training(workdir, 'prior', 400)  # interrupted at step 400: not done
  os.makedirs(os.path.join(workdir, 'eval'))
  with open(os.path.join(workdir, 'eval', 'metrics.json'), 'w') as f:
    json.dump({'vae': {}}, f)
  ran = []

  def runner(argv):  # fails at the Glow layer's evaluation
    ran.append(argv)
    return 3 if 'experiments.evaluate' in argv and '--config.phase=glow' in argv else 0
  assert stages.run(plan, settings.out, runner, log=lambda *a: None) == 3
  assert [(a[2], next(f for f in a if f.startswith('--config.phase='))) for a in ran] == [
      ('experiments.train', '--config.phase=prior'), ('experiments.train', '--config.phase=glow'),
      ('experiments.evaluate', '--config.phase=prior'),
      ('experiments.evaluate', '--config.phase=glow')]
  assert all(a[:2] == [sys.executable, '-m'] for a in ran)
  # The stages that ran and succeeded are in runs.tsv; the failed one is not.
  lines = (tmp_path / 'out' / 'runs.tsv').read_text().splitlines()
  assert [line.split('\t')[0] for line in lines] == [
      'gamma_standard/seed0 prior', 'gamma_standard/seed0 glow', f'{workdir} eval prior']
  assert not (tmp_path / 'out' / 'gamma_standard').exists()  # not copied: the cell is unfinished


def test_copy_writes_metrics_configs_and_the_figures_that_exist(tmp_path):
  workdir = tmp_path / 'run'
  for phase in ('vae', 'glow'):
    os.makedirs(workdir / phase)
    (workdir / phase / 'config.json').write_text(phase)
  os.makedirs(workdir / 'eval' / 'glow')
  (workdir / 'eval' / 'metrics.json').write_text('{"glow": {}}')
  (workdir / 'eval' / 'glow' / 'samples_T0.png').write_bytes(b'png')
  figures = ('glow/samples_T0.png', 'vae/samples_T0.png')  # the second was never written
  prefixed = stages.Copy(workdir=str(workdir), copy_to=str(tmp_path / 'a'),
                           copy_phases=('vae', 'glow'), copy_figures=figures)
  assert sorted(os.path.basename(p) for p in prefixed.copy()) == [
      'config_glow.json', 'config_vae.json', 'glow_samples_T0.png', 'metrics.json']
  assert (tmp_path / 'a' / 'config_vae.json').read_text() == 'vae'
  folders = stages.Copy(workdir=str(workdir), copy_to=str(tmp_path / 'c'), copy_figures=('*/*.png',),
                         copy_layout='folders')
  assert sorted(os.path.relpath(p, tmp_path / 'c') for p in folders.copy()) == [
      'glow/samples_T0.png', 'metrics.json']
  stages.Copy(workdir=str(workdir), copy_to=str(tmp_path / 'b'), copy_phases=('glow',),
              copy_figures=figures, copy_layout='flat').copy()
  assert sorted(os.listdir(tmp_path / 'b')) == ['config.json', 'metrics.json', 'samples_T0.png']
  (workdir / 'eval' / 'metrics.json').unlink()  # an unevaluated run is an error, not a silent skip
  with pytest.raises(FileNotFoundError):
    prefixed.copy()


def _pipeline(*args, cwd=ROOT):
  return subprocess.run([sys.executable, '-m', 'experiments.pipeline', *args], cwd=cwd,
                        capture_output=True, text=True, timeout=120)


def test_the_command_lists_stages_and_refuses_bad_input_in_one_line(tmp_path):
  listing = _pipeline('demo', f'--root={tmp_path}', '--list')
  assert listing.returncode == 0, listing.stderr[-2000:]
  assert listing.stdout.split('\n')[:2] == ['  1 to do vae', '  2 to do glow']
  # Piped into a reader that stops early: no trace.
  head = subprocess.run(f'{sys.executable} -m experiments.pipeline factorial --root={tmp_path} '
                        '--seeds=0,1,2,3 --list | head -1', shell=True, cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert head.stdout == '  1 to do features\n' and 'Traceback' not in head.stderr, head.stderr
  for args, message in [(('nonsense',), 'give one recipe: main_table, demo, factorial, budget'),
                        (('factorial', '--seeds=a'), '--seeds must be integers, got a'),
                        (('factorial', '--cells=gamma_normal'), '--cells: unknown gamma_normal'),
                        (('demo', '--train_arg=xla'), "--train_arg: 'xla' is not KEY=VALUE")]:
    result = _pipeline(*args, f'--root={tmp_path}', '--list')
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f'error: {message}'), result.stderr


@pytest.mark.slow
def test_the_demo_recipe_trains_both_phases_a_rerun_does_nothing_and_a_fork_trains_on(tmp_path):
  demo = tmp_path / 'demo'
  args = ('demo', f'--root={demo}', '--train_config=tests/configs/tiny.py', '--vae_steps=2',
          '--glow_steps=2')
  first = _pipeline(*args)
  assert first.returncode == 0, first.stderr[-3000:]
  assert '== 1/2: vae ==' in first.stdout and '== 2/2: glow ==' in first.stdout
  assert sorted(os.listdir(demo / 'glow' / 'checkpoints')) == ['2', 'fingerprints']
  again = _pipeline(*args)
  assert again.returncode == 0 and '==' not in again.stdout, again.stdout
  # budget16's way: a fork of the run whose Glow layer resumes from its checkpoint to more steps.
  longer = tmp_path / 'longer'
  plan = [stages.Fork(workdir=str(longer), label='fork', fork_from=str(demo), fork_drop=('glow',)),
          recipes.train(str(longer), 'tests/configs/tiny.py', 'glow', 4, {})]
  logs = []

  def runner(argv):
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    logs.append(result.stderr)
    return result.returncode
  assert stages.run(plan, runner=runner, log=lambda *a: None) == 0, logs[-1][-3000:]
  assert 'resumed glow from step 2' in logs[0]  # from the copied checkpoint, not from step 0
  assert '4' in os.listdir(longer / 'glow' / 'checkpoints')
  assert sorted(os.listdir(demo / 'glow' / 'checkpoints')) == ['2', 'fingerprints']  # untouched
  assert json.loads((longer / 'glow' / 'config.json').read_text())['num_train_steps'] == 4


def test_the_demo_benchmark_times_the_demo_recipe():
  """benchmarks/demo_time.py runs by path in older commits, so it states the budget itself."""
  from benchmarks import demo_time
  assert demo_time.CONFIG == recipes.DEMO_CONFIG
  assert demo_time.PHASE_STEPS == tuple((s.phase, s.steps)
                                        for s in recipes.demo(recipes.Settings(root='w')))


def test_a_fork_whose_copy_is_damaged_is_refused_and_not_marked_done(tmp_path, monkeypatch):
  """The fork checks every copied checkpoint file against the CRCs saved with it."""
  import tensorflow_datasets as tfds
  from tests.helpers import train_config
  from vaeglow_jax.io import files as files_lib
  from vaeglow_jax.training import trainer
  source = tmp_path / 'source'
  with tfds.testing.mock_data(num_examples=16):
    trainer.train_and_evaluate(train_config('vae', steps=2, checkpoint_every_steps=2,
                                            num_devices=1), str(source))
  real_copy = files_lib.copy_tree

  def bad_transfer(src, dst, skip=()):
    names = real_copy(src, dst, skip)
    path = os.path.join(dst, 'vae', 'checkpoints', '2', 'default', '_METADATA')
    with open(path, 'r+b') as f:
      f.seek(100)
      f.write(b'\0\0\0')
    return names

  monkeypatch.setattr(files_lib, 'copy_tree', bad_transfer)
  fork = stages.Fork(workdir=str(tmp_path / 'copy'), label='fork', fork_from=str(source))
  with pytest.raises(stages.StageError, match=r'copy of .*vae/checkpoints has damaged '
                     r'checkpoint\(s\) \[2\]'):
    fork.fork()
  assert not fork.is_done()
  monkeypatch.setattr(files_lib, 'copy_tree', real_copy)  # a good transfer goes through
  fork.fork()
  assert fork.is_done()
