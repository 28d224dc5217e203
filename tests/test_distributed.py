"""vaeglow_jax.distributed's one private JAX dependency fails loudly when JAX drops it."""

import sys
import types

import pytest

from vaeglow_jax import distributed


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
