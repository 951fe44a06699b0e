"""The real pmapped train step and the forward pass on the devices JAX sees; one JSON line.

    python benchmarks/device_step_throughput.py [--dtypes float32 bfloat16] [--batches 6 32]
        [--steps 10] [--tiny] [--no-remat]

The GPU readiness check of issue 6, run on a lent GPU (it also runs on the CPU;
`--tiny` is the seconds-long version the tests run). Per compute dtype and
per-device batch it reports:
  train_images_per_s   train.make_p_train_step (augmentation inside the step, BatchNorm
                       and gradients averaged over the devices, state donated), fed one
                       batch already on the devices; the timed steps run under
                       jax.transfer_guard("disallow"), so any host round trip inside the
                       step raises instead of being timed
  donated              the previous state's buffers are deleted after a step
  compile_s            lowering and compiling that step
  temp_gb / temp_gb_remat  the compiled step's scratch memory without and with remat
                       (remat at the largest batch only)
  forward_images_per_s the jitted inference forward pass at that batch
and, per dtype other than float32, the relative difference of its heatmaps from
float32's on the same weights and images.
"""

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configs import default
from pose3d_jax import model as model_lib
from pose3d_jax import skeleton
from pose3d_jax.training import train

STORED_PER_INPUT = 1.5  # the shards store 384 px crops for 256 px inputs


def host_batch(batch_size, stored, num_joints=skeleton.NUM_JOINTS, seed=0):
    """One global batch in the shards' schema: half H36M (with depth), half MPII."""
    rng = np.random.default_rng(seed)
    box = stored / STORED_PER_INPUT
    center = np.full((batch_size, 2), stored / 2, np.float32)
    joints = center[:, None, :] + rng.uniform(-box / 2.2, box / 2.2, (batch_size, num_joints, 2))
    has_depth = np.arange(batch_size) % 2 == 0
    depth = rng.uniform(-0.5, 0.5, (batch_size, num_joints)) * has_depth[:, None]
    return {
        "image": rng.integers(0, 256, (batch_size, stored, stored, 3), dtype=np.uint8),
        "joints_2d": joints.astype(np.float32),
        "visible": rng.uniform(size=(batch_size, num_joints)) > 0.1,
        "depth": depth.astype(np.float32),
        "has_depth": has_depth,
        "center": center,
        "scale": np.full((batch_size,), box / 200, np.float32),
    }


def on_devices(batch):
    """[B, ...] host arrays -> [devices, B / devices, ...] arrays sharded over the devices."""
    devices = jax.local_device_count()
    split = {k: v.reshape((devices, -1, *v.shape[1:])) for k, v in batch.items()}
    return jax.device_put(split, train.device_axis_sharding())


def make_config(dtype, per_device_batch, tiny, remat=False):
    """configs/default.py (stage 3's losses on) at this dtype and batch."""
    config = default.get_config()
    config.model.dtype = dtype
    config.model.remat = remat
    config.train.batch_size = per_device_batch * jax.local_device_count()
    config.train.reg_weight, config.train.var_weight = 0.1, 0.01
    if tiny:
        config.model.num_stacks, config.model.num_features = 1, 16
        config.model.num_modules, config.model.num_reg_modules = 1, 1
        config.model.hourglass_depth = 2
        config.data.input_res, config.data.heatmap_res = 64, 16
    return config


def compiled_step(config):
    """(compiled pmapped step, replicated fresh state, device batch, compile seconds)."""
    net = model_lib.create_model(config.model, bn_axis_name=train.AXIS)
    tx, schedule = train.create_optimizer(config.train)
    state = train.create_train_state(jax.random.PRNGKey(0), net, tx, config.data.input_res)
    state = train.replicate(state)
    stored = round(STORED_PER_INPUT * config.data.input_res)
    batch = on_devices(host_batch(config.train.batch_size, stored))
    p_step = train.make_p_train_step(config, net, tx, schedule)
    start = time.perf_counter()
    compiled = p_step.lower(state, batch).compile()
    return compiled, state, batch, time.perf_counter() - start


def temp_gb(compiled):
    """The compiled program's scratch memory in GB (None where the backend does not say)."""
    try:
        return round(compiled.memory_analysis().temp_size_in_bytes / 1e9, 3)
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


def time_train(config, steps):
    """Train-step numbers of one (dtype, batch) configuration."""
    compiled, state, batch, compile_s = compiled_step(config)
    old_leaf = jax.tree.leaves(state.params)[0]
    state, metrics = compiled(state, batch)  # warm-up; donates the fresh state
    jax.block_until_ready(state)
    donated = old_leaf.is_deleted()
    with jax.transfer_guard("disallow"):  # a host round trip inside the step raises here
        start = time.perf_counter()
        for _ in range(steps):
            state, metrics = compiled(state, batch)
        jax.block_until_ready((state, metrics))
        seconds = time.perf_counter() - start
    loss = float(np.asarray(jax.device_get(metrics["loss"]))[0])
    return {
        "train_images_per_s": round(steps * config.train.batch_size / seconds, 2),
        "compile_s": round(compile_s, 1),
        "donated": bool(donated),
        "loss_finite": bool(np.isfinite(loss)),
        "temp_gb": temp_gb(compiled),
    }


def forward_numbers(config, batch_size, steps, variables, images):
    """Forward images/s and the heatmaps of `images` under this config's dtype."""
    net = model_lib.create_model(config.model)
    forward = jax.jit(functools.partial(net.apply, train=False))
    x = images[:batch_size]
    heatmaps = jax.block_until_ready(forward(variables, x))["heatmaps"]
    start = time.perf_counter()
    for _ in range(steps):
        out = forward(variables, x)
    jax.block_until_ready(out)
    return steps * batch_size / (time.perf_counter() - start), np.asarray(heatmaps)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--batches", nargs="+", type=int, default=[6, 32], help="per device")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--tiny", action="store_true", help="a small model, for a quick check")
    parser.add_argument(
        "--no-remat", action="store_true", help="skip the remat compile (one compile per dtype)"
    )
    args = parser.parse_args(argv)
    base = make_config("float32", 1, args.tiny)
    res = base.data.input_res
    net = model_lib.create_model(base.model)
    images = jnp.asarray(
        np.random.default_rng(1).uniform(0, 1, (max(args.batches), res, res, 3)), jnp.float32
    )
    variables = jax.jit(functools.partial(net.init, train=False))(jax.random.key(0), images[:1])
    runs, heatmaps_by_dtype = [], {}
    for dtype in args.dtypes:
        for batch in args.batches:
            config = make_config(dtype, batch, args.tiny)
            numbers = time_train(config, args.steps)
            fwd_rate, heatmaps = forward_numbers(config, batch, args.steps, variables, images)
            heatmaps_by_dtype.setdefault(dtype, heatmaps)  # the first batch size's
            run = {"dtype": dtype, "per_device_batch": batch, **numbers,
                   "forward_images_per_s": round(fwd_rate, 2)}  # fmt: skip
            print(json.dumps(run), file=sys.stderr, flush=True)  # kept if a later compile hangs
            if batch == max(args.batches) and not args.no_remat:  # one compile per dtype
                remat = make_config(dtype, batch, args.tiny, remat=True)
                run["temp_gb_remat"] = temp_gb(compiled_step(remat)[0])
            runs.append(run)
    reference = heatmaps_by_dtype.get("float32")
    differences = {}
    for dtype, heatmaps in heatmaps_by_dtype.items():
        if reference is not None and dtype != "float32":  # same batch, weights and images
            diff = np.linalg.norm(heatmaps - reference) / np.linalg.norm(reference)
            differences[f"{dtype}_heatmaps_rel_diff"] = float(f"{diff:.3g}")
    stats = jax.local_devices()[0].memory_stats() or {}
    result = {
        "benchmark": "device_step_throughput",
        "model": "tiny" if args.tiny else "default",
        "input_res": res,
        "runs": runs,
        **differences,
        "peak_device_gb": round(stats["peak_bytes_in_use"] / 1e9, 2) if stats else None,
        "device_count": jax.local_device_count(),
        "device": jax.devices()[0].device_kind,
        "backend": jax.default_backend(),
        "cpu_count": os.cpu_count(),
        "jax_version": jax.__version__,
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
