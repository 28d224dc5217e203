"""Runs `python -m experiments.train ARGS` on mock Fashion-MNIST (tfds.testing.mock_data),
so subprocess tests (kill, SIGTERM, CLI errors) need no dataset."""

import runpy
import sys

import tensorflow_datasets as tfds

if __name__ == '__main__':
  with tfds.testing.mock_data(num_examples=32):
    sys.argv[0] = 'experiments.train'
    runpy.run_module('experiments.train', run_name='__main__', alter_sys=True)
