"""vaeglow_jax.runtime.distributed's one private JAX dependency fails loudly when JAX drops it."""

import sys
import types

import pytest

from vaeglow_jax.runtime import distributed
from vaeglow_jax.runtime import environment


def test_the_coordination_client_is_where_distributed_reads_it():
  # Fails on a JAX that moved it: then distributed._client needs a new home (or a public API).
  from jax._src import distributed as jax_distributed
  assert hasattr(jax_distributed, 'global_state') and hasattr(jax_distributed.global_state, 'client')
  assert distributed._client() is jax_distributed.global_state.client


def test_a_jax_without_it_is_one_clear_error(monkeypatch):
  monkeypatch.setitem(sys.modules, 'jax._src.distributed', types.ModuleType('jax._src.distributed'))
  import jax._src
  monkeypatch.setattr(jax._src, 'distributed', sys.modules['jax._src.distributed'], raising=False)
  with pytest.raises(RuntimeError, match=r'has no jax\._src\.distributed\.global_state\.client.*jax<0\.11'):
    distributed._client()


@pytest.mark.parametrize('requested,cores,batch,want', [
    (0, 2, 64, 2), (0, 1, 64, 1), (0, 6, 64, 4), (0, 8, 12, 6), (0, 4, 7, 1), (3, 2, 64, 3)])
def test_cpu_device_count_is_the_most_cores_that_split_the_batch(requested, cores, batch, want):
  assert environment.cpu_device_count(requested, cores, batch) == want


def test_use_cpu_cores_leaves_the_users_choice_and_multihost_alone(monkeypatch):
  import ml_collections
  config = ml_collections.ConfigDict(dict(cpu_devices=0, batch_size=64, multihost=False,
                                          distributed=dict(coordinator_address='',
                                                           num_processes=-1, process_id=-1)))
  set_counts = []
  monkeypatch.setattr(distributed.jax.config, 'update',
                      lambda name, value: set_counts.append((name, value)))
  flags = {'XLA_FLAGS': '--xla_force_host_platform_device_count=4'}
  assert environment.use_cpu_cores(config, environ=flags) is None
  config.multihost = True
  assert environment.use_cpu_cores(config, environ={}) is None
  assert set_counts == []
  config.cpu_devices = 2  # an explicit count applies to every process
  assert environment.use_cpu_cores(config, environ={}) == 2
  assert set_counts == [('jax_num_cpu_devices', 2)]
  config.cpu_devices = -1
  with pytest.raises(distributed.DistributedError, match='cpu_devices must be >= 0'):
    environment.use_cpu_cores(config, environ={})
