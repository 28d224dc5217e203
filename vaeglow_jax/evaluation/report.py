"""A Markdown results table from the eval/metrics.json of any set of work directories."""

from __future__ import annotations

from vaeglow_jax import phases
from vaeglow_jax.evaluation.metrics import keys
from vaeglow_jax.evaluation.metrics import scores as scores_lib
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.io import workdir as workdir_lib


def load_rows(workdirs: list[str]) -> list[dict]:
  """One row per (workdir, evaluated phase), in the order given."""
  rows = []
  for workdir in workdirs:
    path = workdir_lib.metrics_path(workdir)
    everything = workdir_lib.read_metrics(workdir)
    if not everything:
      raise FileNotFoundError(f'{path} not found: run vaeglow-evaluate --workdir={workdir} '
                              'first.')
    order = list(phases.SPECS)  # a chain ('glow+prior') after the phases
    for phase in sorted(everything, key=lambda p: order.index(p) if p in order else len(order)):
      rows.append({'workdir': workdir, 'phase': phase, **everything[phase],
                   'model_description': _describe(workdir, phase)})
  return rows


def _describe(workdir: str, phase: str) -> str:
  """'gamma variance, standard prior' (a VAE) or 'affine coupling, L=2, K=8, width 64' (the
  Glow baseline) from the phase's saved config ('' when absent)."""
  if not files_lib.is_file(workdir_lib.config_path(workdir, phase)):
    return ''
  model = workdir_lib.saved_config(workdir, phase).get('model', {})
  if phases.get_spec(phase).task == phases.PIXEL_FLOW:
    glow = model.get(phases.get_spec(phase).trainable[0], {})
    return (f"{glow.get('coupling', '?')} coupling, L={glow.get('levels', '?')}, "
            f"K={glow.get('depth', '?')}, width {glow.get('hidden', '?')}")
  return f"{model.get('variance', '?')} variance, {model.get('prior', {}).get('kind', '?')} prior"


def _phase_label(name: str) -> str:
  """The phase table's label, or the result name itself (a chain such as 'glow+prior')."""
  return phases.SPECS[name].label if name in phases.SPECS else name


def _label(row: dict) -> str:
  label = _phase_label(row['phase'])
  return f"{label} ({row['model_description']})" if row.get('model_description') else label


def _fmt(value, digits=2):
  if value is None:
    return 'n/a'
  return f'{value:.{digits}f}'


def _duration(seconds):
  if seconds is None:
    return 'n/a'
  return f'{seconds / 60:.1f} min'


def _other_scores() -> list:
  """The scores shown beside FID, one column each (metrics.scores.SCORES)."""
  return [score for name, score in scores_lib.SCORES.items() if name != 'fid']


def markdown_table(rows: list[dict]) -> str:
  """Columns: model, test bpd (ELBO), IW bpd, one FID column per feature space, s/epoch, training time."""
  spaces = sorted(set().union(*(keys.feature_spaces(r) for r in rows)))
  header = ['model', 'workdir', 'test bpd (ELBO)', 'test bpd (IW)']
  for s in spaces:
    accuracies = sorted({r.get(keys.space_fact(s, keys.CLASSIFIER_TEST_ACCURACY)) for r in rows}
                        - {None})
    acc = f"; classifier acc {', '.join(f'{a:.3f}' for a in accuracies)}" if accuracies else ''
    header += [f'FID ({s}{acc})'] + [score.column.format(space=s) for score in _other_scores()]
  header += ['s/epoch', 'training time']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  footnotes = []
  for r in rows:
    label = _label(r)
    stds = [f'{name}={r[key]:.3g}' for key, name in (('decoder_gamma', 'gamma'),
                                                    ('second_stage_gamma_z', 'gamma_z')) if key in r]
    if stds:
      label += f" [{', '.join(stds)}]"
    if keys.TEST_BPD_EXACT in r:
      elbo = iw = f"{_fmt(r[keys.TEST_BPD_EXACT], 3)} (exact)"
    else:
      elbo = _fmt(r.get(keys.TEST_BPD_ELBO), 3)
      iw = f"{_fmt(r.get(keys.TEST_BPD_IW), 3)} (K={r.get(keys.IW_SAMPLES)})"
    cells = [label, f"`{r['workdir']}` ({r['phase']})", elbo, iw]
    for s in spaces:
      fid = keys.score_key('fid', s)
      value = r.get(fid)
      cell = _fmt(value)
      if value is not None and r.get(keys.TEMPERATURE) is not None and r.get(keys.by_temperature(fid)):
        cell += f" (T={r[keys.TEMPERATURE]:g})"
      cells.append(cell)
      for score in _other_scores():
        values = {key: r.get(keys.score_key(key, s)) for key in score.keys}
        cells.append('n/a' if None in values.values() else score.cell(values))
    per_epoch = r.get('seconds_per_epoch')
    if 'seconds_per_epoch_mean_of_phases' in r:
      per_epoch = r['seconds_per_epoch_mean_of_phases']  # the paper's Table 4 for two phases
    cells += [_fmt(per_epoch, 1), _duration(r.get('total_training_seconds'))]
    lines.append('| ' + ' | '.join(cells) + ' |')
  for s in spaces:
    accuracies = {r.get(keys.space_fact(s, keys.CLASSIFIER_TEST_ACCURACY)) for r in rows} - {None}
    if accuracies:
      footnotes.append(f'FID ({s}): features of a classifier with test accuracy '
                       + ', '.join(f'{a:.4f}' for a in sorted(accuracies))
                       + ' (vaeglow-features); comparable within this table only.')
  counts = {(r.get(keys.NUM_FID_SAMPLES), r.get(keys.NUM_FID_REFERENCE_IMAGES)) for r in rows}
  for samples, reference in sorted(counts, key=str):
    if samples and reference:  # a run without a feature space has no FID to describe
      footnotes.append(f'FID from {samples} samples against {reference} held-out test images.')
  shown = [score.footnote for score in _other_scores() if any(
      keys.score_key(score.keys[0], s) in r for r in rows for s in spaces)]
  if shown:
    footnotes.append('; '.join(shown) + ', same features and samples as the FID.')
  footnotes.append('s/epoch: steady-state median step time x steps per epoch (compilation excluded); '
                   'for a two-phase model the mean of its two phases (the paper\'s Table 4). '
                   'Training time: wall time of all phases the model needs, compilation included.')
  return '\n'.join(lines + [''] + [f'- {n}' for n in footnotes]) + '\n'


def temperature_table(rows: list[dict]) -> str:
  """FID against temperature for the models whose samples depend on it."""
  lines = []
  for r in rows:
    for space in keys.feature_spaces(r):
      sweep = r.get(keys.by_temperature(keys.score_key('fid', space)))
      if isinstance(sweep, dict):
        if not lines:
          temps = sorted(sweep, key=float)
          lines = ['| model | feature space | ' + ' | '.join(f'T={t}' for t in temps) + ' |',
                   '|' + '---|' * (len(temps) + 2)]
        label = _label(r)
        lines.append(f'| {label} | {space} | '
                     + ' | '.join(_fmt(sweep[t]) for t in sorted(sweep, key=float)) + ' |')
  return '\n'.join(lines) + ('\n' if lines else '')


def glow_layer_table(rows: list[dict]) -> str:
  """What the Glow layer adds, per model with one and temperature: FID of its sample x, of
  x_tilde (before the layer) and of the decoder mean from the same noise; how far the layer
  moves a sample relative to the decoder noise; Laplacian energy relative to the test images."""
  lines = []
  for r in rows:
    layer = r.get(keys.GLOW_LAYER)
    if not layer:
      continue
    if not lines:
      lines = ['| model | feature space | T | FID x | FID x_tilde | FID decoder mean '
               '| RMS(x - x_tilde) / RMS(x_tilde - mean) | HF energy x / x_tilde / mean |',
               '|' + '---|' * 8]
    label = f"{_phase_label(r['phase'])} (`{r['workdir']}`)"
    for space, by_t in layer['x_tilde'].items():
      for t in sorted(by_t, key=float):
        effect = layer['effect'][t]
        ratio = effect['change_over_noise']
        fid = keys.score_key('fid', space)
        x_fid = r.get(keys.by_temperature(fid), {}).get(t, r.get(fid))
        lines.append(
            f"| {label} | {space} | {t} | {_fmt(x_fid)} | {_fmt(by_t[t]['fid'])} "
            f"| {_fmt(layer['decoder_mean'][space]['fid'])} | {_fmt(ratio)} "
            f"| {effect['hf_energy_x']:.2f} / {effect['hf_energy_x_tilde']:.2f} / "
            f"{effect['hf_energy_decoder_mean']:.2f} |")
  return '\n'.join(lines) + ('\n' if lines else '')


def _glow_recipe(workdir: str, phase: str) -> str:
  """'shuffle mixing, width 32, additive, lr 0.0005' from DIR/<phase>/config.json."""
  if not files_lib.is_file(workdir_lib.config_path(workdir, phase)):
    return '?'
  config = workdir_lib.saved_config(workdir, phase)
  glow = config['model']['glow']
  return (f"{glow.get('mixing', 'none')} mixing, width {glow['hidden']}, {glow['coupling']}, "
          f"lr {config['learning_rate']:g}")


def ablation_table(rows: list[dict], temperature: str = '0.5') -> str:
  """One line per Glow-layer run (a Glow layer trained on a frozen VAE): its recipe, steps, bounds, FID of its samples
  by temperature, and at `temperature` FID of x_tilde and of the decoder mean from the same
  noise, KID, the share of the decoder's squared residual on test images that f removes, and
  whether the samples beat both (the Glow-layer criterion, by FID; one run, no test)."""
  lines = []
  for r in rows:
    layer = r.get(keys.GLOW_LAYER)
    spec = phases.SPECS.get(r['phase'])
    if not (spec and spec.use_glow and spec.stage1) or not layer:
      continue
    space = next(iter(layer['x_tilde']))
    fids, kids, kid_ses = (r.get(keys.by_temperature(keys.score_key(score, space)), {})
                           for score in ('fid', 'kid', 'kid_se'))
    if not lines:
      temps = sorted(fids, key=float)
      lines = ['| run | recipe | steps | training time | test bpd ELBO / IW | '
               + 'FID x, T=' + ' / '.join(temps)
               + f' | FID x_tilde T={temperature} | FID decoder mean | KID x T={temperature} '
               '| KID decoder mean | residual removed by f | x beats both at T=' + temperature + ' |',
               '|' + '---|' * 12]
    x_fid = fids.get(temperature)
    tilde_fid = layer['x_tilde'][space].get(temperature, {}).get('fid')
    mean = layer['decoder_mean'][space]
    beats = (x_fid is not None and tilde_fid is not None and x_fid < mean['fid']
             and x_fid < tilde_fid)
    kid = (f"{kids[temperature]:.1f} +- {kid_ses[temperature]:.1f}" if temperature in kids
           else 'n/a')
    residual = layer.get('residual')  # absent in metrics written before it existed
    removed = f"{100 * residual['residual_removed']:.0f}%" if residual else 'n/a'
    lines.append(
        f"| `{files_lib.basename(r['workdir'])}` | {_glow_recipe(r['workdir'], r['phase'])} "
        f"| {r.get('checkpoint_step')} | {_duration(r.get('training_seconds'))} "
        f"| {_fmt(r.get(keys.TEST_BPD_ELBO), 3)} / {_fmt(r.get(keys.TEST_BPD_IW), 3)} "
        f"| {' / '.join(_fmt(fids[t], 1) for t in sorted(fids, key=float))} "
        f"| {_fmt(tilde_fid, 1)} | {_fmt(mean['fid'], 1)} | {kid} "
        f"| {mean['kid']:.1f} +- {mean['kid_se']:.1f} | {removed} | {'yes' if beats else 'no'} |")
  return '\n'.join(lines) + ('\n' if lines else '')
