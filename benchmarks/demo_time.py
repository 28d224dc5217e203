"""The README demo's training time: its two `experiments.train` commands, exactly as
scripts/demo.sh runs them (1,200 VAE steps, then 500 Glow-layer steps, quick preset), timed
from outside, in the current directory's code.

Run: python PATH/TO/benchmarks/demo_time.py --out=FILE.json [--python=.venv/bin/python]
The work directory is FILE's name without .json (kept, for evaluation). The JSON holds each
phase's wall seconds (process start to exit: imports, data, compilation, training, samples,
checkpoints), their sum, and each phase's timing.json (the trainer's own step times).
Run by path, so that benchmarks/ab_commits.sh can time a commit that predates this file:
    bash benchmarks/ab_commits.sh OLD 2 /tmp/ab_demo .venv/bin/python $PWD/benchmarks/demo_time.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

CONFIG = 'experiments/configs/fashion_mnist.py:quick'
PHASE_STEPS = (('vae', 1200), ('glow', 500))  # experiments.recipes.DEMO_*: not imported, as this file
# also times commits older than it (tests/experiments/test_pipeline.py checks the two agree).


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--out', required=True)
  parser.add_argument('--python', default=sys.executable)
  args = parser.parse_args()
  workdir = os.path.splitext(args.out)[0]
  shutil.rmtree(workdir, ignore_errors=True)
  result = {'commit': subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                                     text=True, check=False).stdout.strip(),
            'phases': {}}
  for phase, steps in PHASE_STEPS:
    start = time.perf_counter()
    subprocess.run([args.python, '-m', 'experiments.train', f'--config={CONFIG}',
                    f'--workdir={workdir}', f'--config.phase={phase}',
                    f'--config.num_train_steps={steps}'], check=True)
    seconds = time.perf_counter() - start
    # By hand, not through vaeglow_jax.timing.read: this script runs outside the package and
    # times commits whose package has no timing module (timing.json's keys are older).
    with open(os.path.join(workdir, phase, 'timing.json')) as f:
      timing = json.load(f)
    result['phases'][phase] = {'wall_seconds': seconds, 'steps': steps,
                               'median_step_seconds': timing['median_step_seconds'],
                               'train_loop_seconds': timing['wall_seconds'],
                               'num_devices': timing['num_devices']}
  result['total_seconds'] = sum(p['wall_seconds'] for p in result['phases'].values())
  with open(args.out, 'w') as f:
    json.dump(result, f, indent=1)
  print(json.dumps(result))


if __name__ == '__main__':
  main()
