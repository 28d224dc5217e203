"""experiments.sample: one PNG per image plus an npz, the same pixels, deterministic in the seed
for any number of devices and processes, read by pytorch-fid's folder loader."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.helpers import finish, free_port, import_torchvision, launch, process_flags, read_only


@pytest.fixture(scope='module')
def trained(tiny_run, tmp_path_factory):
  """conftest's tiny vae -> glow work directory, copied (sampling reads it; the copy keeps the
  shared one safe), and a folder for the samples. -> (workdir, root)."""
  root = tmp_path_factory.mktemp('sample')
  workdir = str(root / 'run')
  shutil.copytree(tiny_run[0], workdir)
  return workdir, root


def _sample(workdir, out, log, devices=1, extra=()):
  return launch(['experiments.sample', f'--workdir={workdir}', '--num=10', f'--out={out}',
                 '--config.eval.batch_size=4', *extra], log, devices)


def _load(out):
  with np.load(os.path.join(out, 'samples.npz')) as f:
    return f['x']


@pytest.mark.slow
def test_samples_are_pngs_and_an_npz_deterministic_over_devices_and_processes(trained):
  workdir, root = trained
  runs = {name: str(root / name) for name in ('one', 'two_devices', 'seed1')}
  procs = [_sample(workdir, runs['one'], str(root / 'one.log')),
           _sample(workdir, runs['two_devices'], str(root / 'two.log'), devices=2),
           _sample(workdir, runs['seed1'], str(root / 'seed1.log'), extra=['--seed=1'])]
  port, two_processes = free_port(), str(root / 'two_processes')
  procs += [_sample(workdir, two_processes, str(root / f'p{i}.log'), extra=process_flags(port, i))
            for i in (0, 1)]
  outs = finish(procs)
  assert 'samples of glow' in outs[0]  # the last trained phase by default
  x = _load(runs['one'])
  assert x.dtype == np.uint8 and x.shape == (10, 8, 8, 1)
  assert len(np.unique(x)) > 10  # real images, not a constant
  np.testing.assert_array_equal(_load(runs['two_devices']), x)
  np.testing.assert_array_equal(_load(two_processes), x)
  assert not np.array_equal(_load(runs['seed1']), x)
  names = sorted(n for n in os.listdir(runs['one']) if n.endswith('.png'))
  assert names == [f'{i:06d}.png' for i in range(10)]
  for i, name in enumerate(names):
    with Image.open(os.path.join(runs['one'], name)) as image:
      assert image.mode == 'L'
      np.testing.assert_array_equal(np.asarray(image), x[i, ..., 0])
  # pytorch-fid's folder loader reads the folder (as RGB, the same gray levels in each channel).
  import_torchvision()  # pytorch-fid imports it (tests.helpers says why this needs help here)
  from pytorch_fid.fid_score import IMAGE_EXTENSIONS, ImagePathDataset
  files = sorted(os.path.join(runs['one'], n) for n in os.listdir(runs['one'])
                 if n.rsplit('.', 1)[-1] in IMAGE_EXTENSIONS)
  loaded = ImagePathDataset(files)
  assert len(loaded) == 10
  np.testing.assert_array_equal(np.asarray(loaded[3])[..., 0], x[3, ..., 0])


@pytest.mark.slow
def test_sample_refuses_bad_input_in_one_line(trained):
  workdir, root = trained
  existing = str(root / 'one_existing')
  os.makedirs(existing)
  open(os.path.join(existing, 'keep.png'), 'w').close()
  a_file = str(root / 'a_file.png')
  open(a_file, 'w').close()
  cases = [(['--temperature=-1'], str(root / 'neg'), '--temperature must be a finite number >= 0'),
           (['--temperature=nan'], str(root / 'nan'), '--temperature must be a finite number >= 0'),
           (['--temperature=inf'], str(root / 'inf'), '--temperature must be a finite number >= 0'),
           (['--num=0'], str(root / 'zero'), '--num must be positive'),
           (['--num=-5'], str(root / 'negnum'), '--num must be positive'),
           ([], existing, 'already holds files'),
           ([], a_file, 'is a file, not a folder'),
           (['--config.model.latent_dim=3'], str(root / 'model'), 'cannot change at evaluation')]
  procs = [_sample(workdir, out, str(root / f'bad{i}.log'), extra=extra)
           for i, (extra, out, _) in enumerate(cases)]
  outs = finish(procs, returncode=2)
  for (_, out, message), text in zip(cases, outs):
    errors = [line for line in text.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1 and message in errors[0], text[-2000:]
    assert out in (existing, a_file) or not os.path.exists(out)
  assert os.listdir(existing) == ['keep.png'] and os.path.getsize(a_file) == 0
  # A folder it may not write into (immutable for root, read-only otherwise): one line, exit 2,
  # nothing created, no traceback.
  locked = root / 'read_only'
  locked.mkdir()
  with read_only(locked):
    text, = finish([_sample(workdir, str(locked / 'samples'), str(root / 'ro.log'))], returncode=2)
    assert os.listdir(locked) == []
  errors = [line for line in text.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1 and f'cannot write into {locked}/samples' in errors[0], text[-2000:]
  assert 'pass a writable --out' in errors[0] and 'Traceback' not in text
  # Two processes asked for one device: process 1 would hold no shard of the parameters (it
  # crashed, and process 0 waited 5 minutes at a barrier). Both end with the one line.
  port, out = free_port(), str(root / 'mesh')
  outs = finish([_sample(workdir, out, str(root / f'mesh{i}.log'),
                         extra=['--config.num_devices=1', *process_flags(port, i)])
                 for i in (0, 1)], timeout=300, returncode=2)
  for text in outs:
    errors = [line for line in text.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1 and 'num_devices=1 leaves process 1 of 2 without a device' in errors[0], text[-2000:]
    assert 'Traceback' not in text
  assert not os.path.exists(out)
