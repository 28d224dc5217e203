"""A recipe's stages: each kind says whether it is done and how it runs."""

import json
import os
import sys

import pytest

from experiments import stages


def test_a_train_stage_is_done_at_its_last_step_read_from_a_file_when_asked(tmp_path):
  budget = tmp_path / 'budget.json'
  train = stages.Train(workdir=str(tmp_path / 'run'), flags=('--config.phase=vae',), phase='vae',
                       steps_from=f'{budget}:steps')
  assert train.last_step() is None and not train.is_done()
  budget.write_text(json.dumps({'steps': 30}))
  assert train.command() == [sys.executable, '-m', 'experiments.train', '--config.phase=vae',
                             '--config.num_train_steps=30']
  os.makedirs(tmp_path / 'run' / 'vae' / 'checkpoints' / '20')
  assert not train.is_done()
  os.makedirs(tmp_path / 'run' / 'vae' / 'checkpoints' / '30')
  assert train.is_done()


def test_an_evaluation_is_done_once_metrics_json_has_its_key(tmp_path):
  chain = stages.Evaluate(workdir=str(tmp_path), phase='glow', prior_phase='prior')
  assert chain.result_key == 'glow+prior' and not chain.is_done()
  os.makedirs(tmp_path / 'eval')
  (tmp_path / 'eval' / 'metrics.json').write_text(json.dumps({'glow': {}}))
  assert not chain.is_done() and stages.Evaluate(workdir=str(tmp_path), phase='glow').is_done()


def test_run_skips_what_is_done_stops_at_a_failure_and_times_only_commands(tmp_path):
  out = tmp_path / 'out'
  made = tmp_path / 'made.json'
  made.write_text('{}')
  plan = [stages.Run(workdir='w', module='m.done', creates=str(made), label='done already'),
          stages.Features(workdir=str(tmp_path / 'fe'), flags=('--x',), label='features'),
          stages.Report(workdir='w', flags=('--table',), label='table'),
          stages.Train(workdir=str(tmp_path / 'run'), phase='vae', steps=5, label='train'),
          stages.Report(workdir='w', label='never reached')]
  commands = []

  def runner(command):
    commands.append(command[2])
    return 7 if command[2] == 'experiments.train' else 0
  assert stages.run(plan, str(out), runner, log=lambda *a: None) == 7
  assert commands == ['experiments.train_feature_extractor', 'experiments.report',
                      'experiments.train']
  # runs.tsv: the features stage only (a report is cheap; the failed train has no time).
  assert [line.split('\t')[0] for line in (out / 'runs.tsv').read_text().splitlines()] == [
      'features']


def test_every_stage_kind_is_one_class_with_its_own_name():
  kinds = {cls.kind: cls for cls in stages.Stage.__subclasses__()}
  assert set(kinds) == {'train', 'evaluate', 'features', 'report', 'run', 'copy', 'fork'}
  with pytest.raises(TypeError):
    stages.Copy(workdir='w')  # a copy needs its results folder
