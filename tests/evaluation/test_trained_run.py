"""vaeglow_jax.load: a trained run in Python (tiny_run: vae then glow, 8x8 Fashion-MNIST)."""

import jax
import numpy as np
import pytest

import vaeglow_jax
from vaeglow_jax import data as data_lib
from vaeglow_jax.evaluation import trained_run
from vaeglow_jax.evaluation import bounds


@pytest.fixture(scope='module')
def run(tiny_run):
  return vaeglow_jax.load(tiny_run[0], num_devices=1)


def _test_batch(run, n=8):
  images, _ = next(data_lib.eval_iterator(run.config.data, 'test', n, n))
  return images


def test_load_takes_the_last_trained_phase_and_its_latest_checkpoint(run, tiny_run):
  assert run.phase.name == 'glow' and run.config.phase == 'glow'
  assert run.step == run.config.num_train_steps
  vae = vaeglow_jax.load(tiny_run[0], phase='vae', num_devices=1)
  assert vae.phase.name == 'vae' and not vae.phase.spec.use_glow
  with pytest.raises(trained_run.LoadError, match='no trained phase in'):
    vaeglow_jax.load(tiny_run[0] + '/nothing')


def test_samples_depend_on_the_seed_and_temperature_only(run):
  a = run.sample(4, temperature=0.5, seed=1)
  assert a.dtype == np.uint8 and a.shape == (4,) + run.image_shape
  np.testing.assert_array_equal(a, run.sample(4, temperature=0.5, seed=1))
  assert not np.array_equal(a, run.sample(4, temperature=0.5, seed=2))
  assert not np.array_equal(a, run.sample(4, temperature=0.0, seed=1))


def test_bits_per_dim_of_a_batch_is_the_number_evaluation_reports_for_it(run):
  images = _test_batch(run)
  mine = run.bits_per_dim(images)
  assert mine['iw'].shape == mine['elbo'].shape == (8,)
  assert np.all(mine['iw'] <= mine['elbo'] + 1e-6)  # the IW bound is the tighter one
  # experiments.evaluate's test bounds, on a test split cut to that one batch.
  config = run.config.copy_and_resolve_references()
  config.eval.max_test_examples = 8
  rng_bounds = jax.random.split(jax.random.PRNGKey(config.eval.seed), 3)[0]
  reported = bounds.test_bounds(run.phase, run.variables, config, run.mesh, rng_bounds,
                                   log=lambda *_: None)
  np.testing.assert_allclose(mine['iw'].mean(), reported['test_bpd_iw'], rtol=1e-6)
  np.testing.assert_allclose(mine['elbo'].mean(), reported['test_bpd_elbo'], rtol=1e-6)


def test_reconstructions_are_each_a_function_of_their_own_input(run):
  # (The tiny model is barely trained: its reconstructions are not yet near their inputs.)
  images = _test_batch(run)
  mean, log_std = run.encode(images)
  assert mean.shape == log_std.shape == (8, run.config.model.latent_dim)
  assert np.all(np.std(mean, axis=0) > 0)  # each image its own posterior
  out = run.reconstruct(images)
  assert set(out) == {'decoder_mean', 'x'}
  permutation = np.array([3, 0, 7, 1, 6, 2, 5, 4])
  permuted = run.reconstruct(images[permutation])
  for key in out:
    assert out[key].dtype == np.uint8 and out[key].shape == images.shape
    np.testing.assert_array_equal(permuted[key], out[key][permutation])
  # The Glow layer's output is not the decoder mean (its inverse moved it).
  assert not np.array_equal(out['x'], out['decoder_mean'])
  # decode at T=0 is deterministic; at T > 0 the seed moves the Glow layer's output only.
  a, b = run.decode(mean, 0.5, seed=0), run.decode(mean, 0.5, seed=1)
  np.testing.assert_array_equal(a['decoder_mean'], b['decoder_mean'])
  assert not np.array_equal(a['x'], b['x'])


def test_bad_images_are_one_clear_error(run):
  with pytest.raises(ValueError, match=r'images must be uint8 \(n, 8, 8, 1\)'):
    run.bits_per_dim(np.zeros((8, 8, 8, 1), np.float32))


def test_the_readme_example_and_the_example_script_run(tiny_run, tmp_path):
  import os
  import re
  import subprocess
  import sys
  from tests.helpers import ROOT
  readme = open(os.path.join(ROOT, 'README.md')).read()
  block = re.search(r'## A trained run in Python\n.*?```python\n(.*?)```', readme, re.S).group(1)
  assert "vaeglow_jax.load('workdirs/fashion_mnist_quick')" in block
  names = {}
  exec(block.replace('workdirs/fashion_mnist_quick', tiny_run[0]).replace('(16, 28, 28, 1)', ''),
       names)  # noqa: S102 - the README's own code
  assert names['images'].shape == (16, 8, 8, 1) and names['bpd'].shape == (16,)
  assert set(names['parts']) == {'decoder_mean', 'x'}
  out = tmp_path / 'example.png'
  result = subprocess.run([sys.executable, '-m', 'experiments.example_load', tiny_run[0], str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'glow at step' in result.stdout and out.is_file()
  from PIL import Image
  assert np.asarray(Image.open(out)).shape[:2] == (5 * 8, 8 * 8)  # 5 rows of 8 images of 8x8


def test_later_calls_compile_nothing(run):
  """Each method is compiled once per shape (and temperature): a second call of sample,
  bits_per_dim, reconstruct, encode and decode with the same shapes traces and compiles nothing."""
  images = _test_batch(run, 4)
  calls = [lambda: run.sample(4, temperature=0.5, seed=3), lambda: run.bits_per_dim(images),
           lambda: run.reconstruct(images), lambda: run.encode(images),
           lambda: run.decode(np.zeros((4, run.config.model.latent_dim), np.float32))]
  for call in calls:
    call()  # the first call compiles
  compiles = []
  with jax.log_compiles(True):
    logger = __import__('logging').getLogger('jax')
    handler = __import__('logging').Handler()
    handler.emit = lambda record: compiles.append(record.getMessage())
    logger.addHandler(handler)
    try:
      for i, call in enumerate(calls):
        call()
        assert not [m for m in compiles if 'ompil' in m], (i, compiles)
    finally:
      logger.removeHandler(handler)
  # The check itself sees a compile: a new temperature is a new program.
  with jax.log_compiles(True):
    logger.addHandler(handler)
    try:
      run.sample(4, temperature=0.25, seed=3)
    finally:
      logger.removeHandler(handler)
  assert [m for m in compiles if 'ompil' in m]
