"""Multi-process JAX start-up, when the environment asks for it.

Set on every process: JAX_COORDINATOR_ADDRESS (host:port of process 0),
JAX_NUM_PROCESSES and JAX_PROCESS_ID. On CPUs the collectives go through gloo.
Without these variables nothing happens (one process, all local devices).
"""

import os

import jax

ENV_ADDRESS = "JAX_COORDINATOR_ADDRESS"
ENV_COUNT = "JAX_NUM_PROCESSES"
ENV_ID = "JAX_PROCESS_ID"


def initialize_from_environment(environ=None):
    """Calls jax.distributed.initialize from the three variables; True if it did."""
    environ = os.environ if environ is None else environ
    if ENV_ADDRESS not in environ:
        return False
    missing = [k for k in (ENV_COUNT, ENV_ID) if k not in environ]
    if missing:
        raise ValueError(
            f"{ENV_ADDRESS} is set but {', '.join(missing)} is not; set all three "
            f"({ENV_ADDRESS}, {ENV_COUNT}, {ENV_ID}) on every process."
        )
    if jax.config.jax_platforms in (None, "", "cpu") and not _has_accelerator_plugin():
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=environ[ENV_ADDRESS],
        num_processes=int(environ[ENV_COUNT]),
        process_id=int(environ[ENV_ID]),
    )
    return True


def _has_accelerator_plugin():
    """Whether a GPU/TPU JAX plugin is installed (checked without starting a backend)."""
    import importlib.util

    return any(
        importlib.util.find_spec(name) is not None
        for name in ("jax_cuda12_plugin", "jax_cuda13_plugin", "libtpu")
    )
