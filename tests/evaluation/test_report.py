"""Result tables from metrics.json rows (no training: rows written by hand)."""

import json
import os

from vaeglow_jax.evaluation import report


def _glow_run(root, name, fid_x, fid_tilde, fid_mean, hidden=32):
  workdir = os.path.join(root, name)
  os.makedirs(os.path.join(workdir, 'glow'))
  os.makedirs(os.path.join(workdir, 'eval'))
  with open(os.path.join(workdir, 'glow', 'config.json'), 'w') as f:
    json.dump({'learning_rate': 5e-4, 'model': {'glow': {'mixing': 'shuffle', 'hidden': hidden,
                                                          'coupling': 'additive'}}}, f)
  by_t = lambda v: {'0': v - 5, '0.5': v, '1': v + 20}  # noqa: E731
  metrics = {'glow': {
      'checkpoint_step': 500, 'training_seconds': 120.0, 'test_bpd_elbo': 5.0, 'test_bpd_iw': 4.9,
      'fid_fm_by_temperature': by_t(fid_x), 'kid_fm_by_temperature': by_t(fid_x / 2),
      'kid_se_fm_by_temperature': by_t(3.0),
      'glow_layer': {'x_tilde': {'fm': {t: {'fid': v} for t, v in by_t(fid_tilde).items()}},
                     'decoder_mean': {'fm': {'fid': fid_mean, 'kid': 40.0, 'kid_se': 5.0}},
                     'effect': {}, 'residual': {'residual_removed': 0.24}}}}
  with open(os.path.join(workdir, 'eval', 'metrics.json'), 'w') as f:
    json.dump(metrics, f)
  return workdir


def test_ablation_table_marks_runs_whose_samples_beat_x_tilde_and_decoder_mean(tmp_path):
  runs = [_glow_run(tmp_path, 'sharpens', 50.0, 60.0, 55.0),
          _glow_run(tmp_path, 'ties_mean', 55.0, 60.0, 55.0, hidden=128),
          _glow_run(tmp_path, 'worse_than_tilde', 50.0, 49.0, 55.0)]
  lines = report.ablation_table(report.load_rows(runs)).splitlines()
  assert len(lines) == 5 and lines[0].count('|') == lines[1].count('|') == lines[2].count('|')
  assert [line.rsplit('|', 2)[1].strip() for line in lines[2:]] == ['yes', 'no', 'no']
  assert 'shuffle mixing, width 128, additive, lr 0.0005' in lines[3]
  assert '| 45.0 / 50.0 / 70.0 | 60.0 | 55.0 | 25.0 +- 3.0 | 40.0 +- 5.0 | 24% |' in lines[2]


def test_comparison_table_shows_the_scalar_variances(tmp_path):
  workdir = tmp_path / 'vae_gamma'
  (workdir / 'eval').mkdir(parents=True)
  (workdir / 'eval' / 'metrics.json').write_text(json.dumps({
      'vae': {'test_bpd_elbo': 6.1, 'test_bpd_iw': 6.0, 'iw_samples': 16, 'decoder_gamma': 0.0812},
      'second_stage': {'test_bpd_elbo': 6.2, 'test_bpd_iw': 6.1, 'iw_samples': 16,
                       'decoder_gamma': 0.0812, 'second_stage_gamma_z': 0.25}}))
  table = report.markdown_table(report.load_rows([str(workdir)]))
  assert 'VAE [gamma=0.0812]' in table
  assert 'two-stage VAE [gamma=0.0812, gamma_z=0.25]' in table


def test_comparison_table_tells_the_affine_and_additive_glow_baselines_apart(tmp_path):
  """results.sh trains both; rows and the temperature sweep must say which is which."""
  workdirs = []
  for coupling in ('affine', 'additive'):
    workdir = tmp_path / coupling
    (workdir / 'eval').mkdir(parents=True)
    (workdir / 'glow_baseline').mkdir()
    (workdir / 'glow_baseline' / 'config.json').write_text(json.dumps(
        {'model': {'baseline': {'coupling': coupling, 'levels': 2, 'depth': 8, 'hidden': 64}}}))
    (workdir / 'eval' / 'metrics.json').write_text(json.dumps({'glow_baseline': {
        'test_bpd_exact': 4.5, 'fid_fm': 250.0, 'temperature': 0.5,
        'fid_fm_by_temperature': {'0.5': 250.0, '1': 300.0}}}))
    workdirs.append(str(workdir))
  rows = report.load_rows(workdirs)
  table, sweep = report.markdown_table(rows), report.temperature_table(rows)
  for coupling in ('affine', 'additive'):
    label = f'Glow (multi-scale) ({coupling} coupling, L=2, K=8, width 64)'
    assert sum(line.startswith(f'| {label} |') for line in table.splitlines()) == 1, table
    assert sum(line.startswith(f'| {label} |') for line in sweep.splitlines()) == 1, sweep
