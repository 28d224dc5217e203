"""Smoke tests: every benchmark runs at tiny sizes and prints the JSON fields BENCHMARKS.md uses."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.xla_env import xla_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, 'XLA_FLAGS': xla_flags(1)}


def _assert_markdown_renders(results_dir, headings):
  """write_markdown reads these JSON files: a renamed field breaks BENCHMARKS.md here."""
  out = results_dir / 'BENCHMARKS.md'
  result = subprocess.run([sys.executable, '-m', 'benchmarks.write_markdown',
                           f'--results={results_dir}', f'--out={out}'], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=ENV)
  assert result.returncode == 0, result.stderr[-3000:]
  text = out.read_text()
  for heading in headings:
    assert heading in text, f'{heading!r} missing from the regenerated BENCHMARKS.md'


@pytest.mark.slow
def test_gpu_check_script_runs_every_benchmark_on_cpu(tmp_path):
  result = subprocess.run(['bash', 'benchmarks/gpu_check.sh'], cwd=ROOT, capture_output=True,
                          text=True, timeout=2400,
                          env={**ENV, 'PRESET': 'test', 'OUT': str(tmp_path),
                               'PYTHON': sys.executable})
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  with open(tmp_path / 'compile_time.json') as f:
    compile_time = json.load(f)
  rows = {(r['phase'], r['form']): r for r in compile_time['results']}
  assert set(rows) == {('vae', 'rolled'), ('vae', 'unrolled')}
  assert all(r['compile_seconds'] > 0 and r['median_step_seconds'] > 0 for r in rows.values())
  with open(tmp_path / 'peer.json') as f:
    peer = json.load(f)
  assert peer['torch_device'] == 'cpu'
  for row in peer['results']:
    assert row['ours_images_per_second'] > 0 and row['normflows_images_per_second'] > 0
    # Same architecture: at tiny widths the split priors differ by a few percent of the total.
    assert row['parameter_count_relative_difference'] < 0.06
    assert row['ours_flops_per_step'] > 0 and row['normflows_flops_per_step'] > 0
  with open(tmp_path / 'throughput.json') as f:
    throughput = json.load(f)
  row = throughput['results'][0]
  assert row['images_per_second'] > 0 and row['flops_per_step'] > 0
  assert row['sampling_images_per_second'] > 0 and throughput['peak_rss_bytes'] > 0
  with open(tmp_path / 'throughput_bf16.json') as f:
    bf16 = json.load(f)
  assert bf16['net_dtype'] == 'bfloat16' and bf16['results'][0]['images_per_second'] > 0
  with open(tmp_path / 'roofline.json') as f:
    roofline = json.load(f)
  assert roofline['matmul_peak_flops_per_second'] > 1e8
  glow = roofline['results'][0]
  assert 0 < glow['fraction_of_matmul_peak'] < 1.5
  assert {'vae_forward', 'glow_layer_forward', 'glow_layer_forward_backward',
          'optimizer_update'} <= set(glow['parts'])
  with open(tmp_path / 'loop_overhead.json') as f:
    overhead = json.load(f)
  row = overhead['rows'][0]
  assert set(row['images_per_second']) == {'bare', 'loop', 'synced'}
  # Same step, same batches: a ratio far from 1 means a unit or a wrong-way-round bug.
  assert 0.2 < row['loop_vs_bare'] < 5
  with open(tmp_path / 'epoch_ratio.json') as f:
    ratio = json.load(f)
  assert ratio['ratio'] > 0 and ratio['full_model_parameters'] > ratio['phases']['glow']['trainable_parameters']
  # The width x depth sweep really builds each Glow layer: more width or depth, more
  # parameters (a flag that did not reach the model would give equal rows). Its flows run
  # rolled (--unroll=1, as on a GPU), where XLA counts a loop body once: no FLOP figure.
  sweep = {(r['depth'], r['hidden']): r for r in ratio['sweep']}
  # (K, width): the swept (1, 4) and (1, 8), and the config's own point (2, 8).
  assert set(sweep) == {(1, 4), (1, 8), (2, 8)}
  params = {key: row['trainable_parameters'] for key, row in sweep.items()}
  assert params[(1, 4)] < params[(1, 8)] < params[(2, 8)]
  assert all(row['flops_per_image'] is None for row in sweep.values()) and ratio['unroll'] == 1
  _assert_markdown_renders(tmp_path, ['## Epoch ratio', 'ratio against the Glow layer', '## Training-loop overhead'])


@pytest.mark.slow
def test_peer_bf16_runs_normflows_under_autocast():
  """benchmarks.peer --bf16 times normflows under bfloat16 autocast: the same model and batch
  give a loss near the float32 one, but not equal to it (autocast really applied)."""
  pytest.importorskip('torch')
  pytest.importorskip('normflows')
  code = ('import json\n'
          'from benchmarks.peer import TorchBench\n'
          'print(json.dumps({p: TorchBench((8, 8, 3), 2, 2, 8, 4, bf16=p == "bf16").step()\n'
          '                  for p in ("f32", "bf16")}))')
  result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=ENV)
  assert result.returncode == 0, result.stderr[-3000:]
  loss = json.loads(result.stdout.strip().splitlines()[-1])
  assert loss['bf16'] != loss['f32']
  np.testing.assert_allclose(loss['bf16'], loss['f32'], rtol=0.05)


@pytest.mark.slow
def test_conv_impl_and_remat_benchmarks_tiny(tmp_path):
  runs = {'conv_impl': ['--preset=test', '--phases=glow', '--steps=1', '--rounds=1'],
          'remat': ['--preset=test', '--phases=glow', '--batch=4', '--steps=1', '--rounds=1']}
  for name, flags in runs.items():
    result = subprocess.run([sys.executable, '-m', f'benchmarks.{name}', *flags,
                             f'--out={tmp_path / name}.json'], cwd=ROOT, capture_output=True,
                            text=True, timeout=2400, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / 'conv_impl.json') as f:
    convs = json.load(f)
  for row in convs['shapes']:
    assert row['auto'] in row['ms'] and row['ms']['xla']['gradient'] > 0
  assert 0.2 < convs['steps']['glow']['speedup_auto_vs_xla'] < 5
  with open(tmp_path / 'remat.json') as f:
    remat = json.load(f)
  row = remat['phases']['glow']
  assert row['no_remat']['xla_memory_mib'] > 0 and row['remat']['xla_memory_mib'] > 0
  _assert_markdown_renders(tmp_path, ['## Convolutions', '## Gradient checkpointing'])


@pytest.mark.slow
def test_equal_time_gives_step_budgets_for_both_baselines(tmp_path):
  """results.sh reads baseline_steps and baseline_steps_additive from this JSON."""
  out = tmp_path / 'equal_time.json'
  result = subprocess.run([sys.executable, '-m', 'benchmarks.equal_time', '--preset=test',
                           '--rounds=1', '--steps=1', '--vae_steps=12', '--glow_steps=5',
                           f'--out={out}'], cwd=ROOT, capture_output=True, text=True,
                          timeout=1200, env=ENV)
  assert result.returncode == 0, result.stderr[-3000:]
  budget = json.loads(out.read_text())
  assert set(budget['median_step_seconds']) == {'vae', 'glow', 'glow_baseline',
                                                'glow_baseline_additive'}
  for key in ('baseline_steps', 'baseline_steps_additive'):
    assert isinstance(budget[key], int) and budget[key] > 0


@pytest.mark.slow
def test_memory_benchmark_shows_remat_saving_memory(tmp_path):
  out = tmp_path / 'memory.json'
  result = subprocess.run([sys.executable, '-m', 'benchmarks.memory', '--preset=test',
                           '--phases=vae,glow', '--batch=8', f'--out={out}'], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200, env=ENV)
  assert result.returncode == 0, result.stderr[-3000:]
  memory = json.loads(out.read_text())
  assert set(memory['phases']['vae']) == {'no_remat'}  # no flow steps: remat changes nothing
  glow = memory['phases']['glow']
  assert glow['remat']['temp_mib'] < glow['no_remat']['temp_mib']
  # The Glow phase holds the whole model but trains only the Glow layer.
  assert glow['no_remat']['trainable_parameters'] < glow['no_remat']['all_parameters']
  assert memory['phases']['vae']['no_remat']['argument_mib'] > 0
  _assert_markdown_renders(tmp_path, ['## Memory per phase'])


@pytest.mark.slow
def test_numerics_benchmark_measures_every_flow_block(tmp_path):
  """The README's numerical check runs, and its errors are those of exact, float32 flows: a
  broken inverse or log-determinant in any block would show orders of magnitude above these."""
  out = tmp_path / 'numerics.json'
  result = subprocess.run([sys.executable, '-m', 'benchmarks.numerics', '--glow_depth=3',
                           '--prior_layers=4', '--prior_hidden=64',
                           f'--out={out}'], cwd=ROOT, capture_output=True, text=True,
                          timeout=1200, env=ENV)
  assert result.returncode == 0, result.stderr[-3000:]
  errors = json.loads(out.read_text())
  assert {'actnorm', 'invconv_lu', 'invconv_plain', 'coupling_additive', 'coupling_affine',
          'coupling_checkerboard_affine', 'flow_step_affine', 'glow_layer_K3_8x8x3',
          'glow_layer_K3_8x8x1_squeeze', 'multiscale_glow_L2_K2_8x8x3',
          'flow_prior_4x64_dim64'} == set(errors)
  for block, e in errors.items():
    assert e['inverse_max_abs'] < 1e-4, block  # float32 round trip; measured <= 1.4e-6
    assert e['logdet_max_rel'] < 1e-6, block  # against jax.jacrev in float64; measured <= 4e-15
    assert e['reverse_logdet_max_abs'] < 1e-3, block  # measured <= 1.6e-5 nats


def test_folded_actnorm_is_the_same_map_at_every_glow_level():
  """benchmarks.actnorm_fusion times the two forms at the multi-scale Glow's level shapes: the
  shapes must be the model's (its 1x1 convolutions' sizes), and the forms the same map."""
  import jax
  import jax.numpy as jnp
  from flax import traverse_util
  from benchmarks import actnorm_fusion
  from vaeglow_jax.flows import StepOptions
  from vaeglow_jax.models.glow import MultiScaleGlow
  model = MultiScaleGlow(levels=3, depth=1, step=StepOptions(hidden=4, coupling='affine'))
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))['params']
  conv_sizes = sorted(leaf.shape[-1] for path, leaf in traverse_util.flatten_dict(params).items()
                      if path[-2:] == ('actnorm', 'bias'))
  assert [c for _, _, c in actnorm_fusion.level_shapes((32, 32, 3), 3)] == conv_sizes == [12, 24, 48]
  keys = jax.random.split(jax.random.PRNGKey(1), 4)
  x = jax.random.normal(keys[0], (2, 4, 4, 12))
  bias, log_scale = jax.random.normal(keys[1], (12,)), 0.3 * jax.random.normal(keys[2], (12,))
  w = jax.random.normal(keys[3], (12, 12))
  np.testing.assert_allclose(actnorm_fusion.separate(x, bias, log_scale, w),
                             actnorm_fusion.folded(x, bias, log_scale, w), rtol=1e-4, atol=1e-4)
  grads = [jax.grad(lambda *a, f=f: jnp.sum(jnp.sin(f(*a))), argnums=(0, 1, 2, 3))(x, bias, log_scale, w)
           for f in (actnorm_fusion.separate, actnorm_fusion.folded)]
  for a, b in zip(*grads):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_peer_levers_time_each_lever_in_its_own_process(tmp_path):
  out = tmp_path / 'peer_levers.json'
  result = subprocess.run([sys.executable, '-m', 'benchmarks.peer_levers', '--tiny',
                           '--levers=conv_xla', '--configs=1', '--steps=1', f'--out={out}'],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, env=ENV)
  assert result.returncode == 0, result.stderr[-3000:]
  levers = json.loads(out.read_text())['levers']
  assert set(levers) == {'default', 'conv_xla'}
  assert len(levers['default']['runs']) == 2 and len(levers['conv_xla']['runs']) == 1
  assert levers['default']['speedup_over_default'] == {'1': 1.0}
  assert levers['conv_xla']['results']['1']['images_per_second'] > 0
  assert levers['conv_xla']['overrides'] == {'conv_impl': 'xla'}
  _assert_markdown_renders(tmp_path, ['The leading levers'])


def test_op_profile_reads_xla_instruction_times_back_from_a_trace(tmp_path):
  """The matmul of a traced jitted function shows up as a matmul kind with its time; Python
  and the executable's own span do not count as instructions."""
  import jax
  import jax.numpy as jnp
  from benchmarks.harness import busy_seconds_by_instruction, instruction_group
  a = jnp.ones((512, 512))
  f = jax.jit(lambda x: jnp.tanh(x @ x) + 1.0)
  jax.block_until_ready(f(a))
  with jax.profiler.trace(str(tmp_path)):
    for _ in range(3):
      jax.block_until_ready(f(a))
  by_kind = busy_seconds_by_instruction(str(tmp_path), 'jit_')
  groups = {instruction_group(kind) for kind in by_kind}
  assert 'matmuls and convolutions (library calls)' in groups, by_kind
  matmul = sum(v for k, v in by_kind.items()
               if instruction_group(k) == 'matmuls and convolutions (library calls)')
  # 3 calls of a 512^3 matmul (0.27 GFLOP each): between 1 us and 10 s of busy time.
  assert 1e-6 < matmul < 10, by_kind
  assert not any(kind.startswith('jit') for kind in by_kind)


def test_lowered_and_compiled_flop_counts_agree_on_a_matmul():
  """compile_time's --flops_only reads FLOPs before compiling; XLA must count what it runs."""
  from benchmarks.harness import flops_of, lowered_flops
  import jax
  import jax.numpy as jnp
  a = jnp.ones((32, 48))
  lowered = jax.jit(lambda x: x @ x.T).lower(a)
  assert lowered_flops(lowered) == flops_of(lowered.compile()) == 2 * 32 * 32 * 48


def test_conv_transpose_benchmark_times_both_forms_of_the_same_function():
  from benchmarks import conv_transpose
  rows = conv_transpose.rows([(2, 3, 2)], batch=2, repeats=1)
  assert rows[0]['gradient_ms']['xla'] > 0 and rows[0]['gradient_ms']['subpixel'] > 0
  assert rows[0]['max_abs_difference'] < 1e-5


def test_prior_speed_times_both_priors_density_and_sampling(tmp_path):
  result = subprocess.run([sys.executable, '-m', 'benchmarks.prior_speed', '--preset=fashion_mnist:test',
                           '--dims=3', '--num=64', '--rounds=2', f'--out={tmp_path}/prior_speed.json'],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=ENV)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / 'prior_speed.json') as f:
    rows = json.load(f)['results']
  assert {(r['kind'], r['op']) for r in rows} == {(k, op) for k in ('flow', 'maf')
                                                 for op in ('density', 'sampling')}
  assert all(r['median_seconds'] > 0 and r['compile_seconds'] > 0 and len(r['all_seconds']) == 2
             for r in rows)
  _assert_markdown_renders(tmp_path, ['## Latent priors: MAF against RealNVP'])


def test_checkpoint_cost_times_orbax_against_checked_saves_and_restores(tmp_path):
  result = subprocess.run([sys.executable, '-m', 'benchmarks.checkpoint_cost', '--preset=fashion_mnist:test',
                           '--phases=vae', '--rounds=2', f'--out={tmp_path}/checkpoint_cost.json'],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=ENV)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / 'checkpoint_cost.json') as f:
    row = json.load(f)['results'][0]
  assert row['phase'] == 'vae' and row['state_bytes'] > 0
  assert all(len(v) == 2 and min(v) > 0 for v in row['all_seconds'].values())
  _assert_markdown_renders(tmp_path, ['## Checkpoint checksums'])


@pytest.mark.slow
def test_first_result_times_the_commands_cold_then_warm_and_loads_later_calls(tmp_path):
  result = subprocess.run([sys.executable, '-m', 'benchmarks.first_result', '--config=fashion_mnist:tiny',
                           '--steps=4', '--calls=1', f'--out={tmp_path}/first_result.json'],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / 'first_result.json') as f:
    out = json.load(f)
  cold, warm = out['commands']['cold'], out['commands']['warm']
  assert set(cold) == {'train vae', 'train glow', 'evaluate', 'sample', 'total', 'cache_files_after'}
  assert cold['cache_files_after'] > 0  # the cold pass filled the cache the warm one reads
  assert all(v > 0 for k, v in warm.items() if k != 'cache_files_after')
  for name in ('sample', 'bits_per_dim', 'reconstruct'):
    timing = out['load']['cold'][name]
    assert timing['first'] > 0 and timing['later_median'] > 0
