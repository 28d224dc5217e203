"""Test set-up: simulated CPU devices must be configured before JAX starts."""

import os

# Four simulated CPU devices so data-parallel code is tested without accelerators.
os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=4')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
