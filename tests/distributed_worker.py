"""One of the two processes of tests/test_distributed.py: 2 data-parallel train steps.

Usage: python tests/distributed_worker.py OUT_PATH

Reads JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES (2) and JAX_PROCESS_ID from the
environment and expects one local CPU device. It trains the tiny config in float64
from PRNGKey(0) on the global batches host_batch(GLOBAL_BATCH, seed=s), s < NUM_STEPS,
this process taking samples [i * half, (i + 1) * half), and writes the final params
(named by their key paths) and the per-step losses to OUT_PATH (.npz).
"""

import functools
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from train_fixtures import host_batch, split_for_devices, tiny_config

from pose3d_jax import model as model_lib
from pose3d_jax.training import distributed, train

GLOBAL_BATCH = 4
NUM_STEPS = 2
NUM_PROCESSES = 2


def float64_config():
    """The tiny config with the regression losses on, in float64 (see test_train.py)."""
    config = tiny_config(reg_weight=0.1, var_weight=0.01)
    config.model.dtype = "float64"
    return config


def initial_state(config, model, tx):
    """The PRNGKey(0) train state with float64 params, batch stats and optimizer state."""
    state = train.create_train_state(jax.random.PRNGKey(0), model, tx, config.data.input_res)
    cast = functools.partial(jax.tree.map, lambda x: x.astype(jnp.float64))
    params = cast(state.params)
    return state.replace(
        params=params, batch_stats=cast(state.batch_stats), opt_state=tx.init(params)
    )


def run_steps(config, batches, num_devices=None):
    """Replicates the initial state on the local devices and runs one step per batch.

    Args:
      config: the float64_config().
      batches: this process's host batches, each [local samples, ...].
      num_devices: how many local devices to use; all by default.

    Returns:
      (initial state, final state, losses per step), on the host.
    """
    model = model_lib.create_model(config.model, bn_axis_name=train.AXIS)
    tx, schedule = train.create_optimizer(config.train)
    state = initial_state(config, model, tx)
    initial = jax.device_get(state)
    num_devices = num_devices or jax.local_device_count()
    state = train.replicate(state, num_devices)
    p_step = train.make_p_train_step(config, model, tx, schedule)
    losses = []
    for batch in batches:
        state, metrics = p_step(state, split_for_devices(batch, num_devices))
        losses.append(float(np.asarray(metrics["loss"])[0]))
    return initial, train.unreplicate(state), np.array(losses)


def global_batches():
    """The deterministic global batches of the run."""
    return [host_batch(GLOBAL_BATCH, seed=s) for s in range(NUM_STEPS)]


def flat_params(params):
    """{'conv_0/kernel': array, ...}: the leaves named by their key paths."""
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return {
        "/".join(str(getattr(k, "key", k)) for k in path): np.asarray(leaf) for path, leaf in leaves
    }


def main(out_path):
    assert distributed.initialize_from_environment(), "JAX_COORDINATOR_ADDRESS is not set"
    assert jax.process_count() == NUM_PROCESSES, jax.process_count()
    assert jax.local_device_count() == 1, jax.local_devices()
    index = jax.process_index()
    half = GLOBAL_BATCH // NUM_PROCESSES
    mine = [
        {k: v[index * half : (index + 1) * half] for k, v in batch.items()}
        for batch in global_batches()
    ]
    with jax.enable_x64(True):
        _, final, losses = run_steps(float64_config(), mine)
    arrays = {f"params/{k}": v for k, v in flat_params(final.params).items()}
    tmp = f"{out_path}.tmp.npz"
    np.savez(tmp, losses=losses, step=np.asarray(final.step), **arrays)
    os.replace(tmp, out_path)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
