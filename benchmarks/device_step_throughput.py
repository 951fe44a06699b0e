"""The real pmapped train step and the forward pass on the devices JAX sees; one JSON line.

    python benchmarks/device_step_throughput.py [--dtypes float32 bfloat16] [--batches 6 32]
        [--steps 10] [--tiny] [--no-remat] [--no-forward] [--cache]

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
  first_step_s         the first call of the compiled step (warm-up)
  peak_gb              the device's peak memory in use so far in this process
                       (memory_stats; None on the CPU): one run per process gives its own
  forward_images_per_s the jitted inference forward pass at that batch (not with
                       --no-forward)
and, per dtype other than float32, the relative difference of its heatmaps from a
float32 forward pass's on the same weights and images.

As launch.py does, it adds the XLA:GPU flags of POSE3D_JAX_XLA_GPU_FLAGS on GPUs
(pose3d_jax/runtime/compile_cache.py); with --cache it also turns the persistent
compilation cache on (POSE3D_JAX_COMPILATION_CACHE picks the folder) and reports
the cache's hits and misses, so a second process shows the second-start compile.
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
from pose3d_jax.runtime import compile_cache
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


def host_variables(net, res, seed=0):
    """Model variables drawn on the host in the shapes flax's init gives (jax.eval_shape):
    kernels He-normal, BatchNorm scales and variances 1, biases and means 0.

    Compiling flax's init costs as much as a small train step (16 s for the tiny model
    on 2 CPU cores) and changes no timing; the weights' values do not matter here.
    """
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(
        functools.partial(net.init, train=False),
        jax.random.key(seed),
        jax.ShapeDtypeStruct((1, res, res, 3), jnp.float32),
    )

    def draw(path, leaf):
        name = getattr(path[-1], "key", str(path[-1]))
        if name == "kernel":
            fan_in = int(np.prod(leaf.shape[:-1]))
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), leaf.shape)
        elif name in ("scale", "var"):
            value = np.ones(leaf.shape)
        else:
            value = np.zeros(leaf.shape)
        return jnp.asarray(value, leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def compiled_step(config, variables=None):
    """(compiled pmapped step, replicated fresh state, device batch, compile seconds).

    variables: the model's (saves compiling an initialisation); None: a fresh one.
    """
    net = model_lib.create_model(config.model, bn_axis_name=train.AXIS)
    tx, schedule = train.create_optimizer(config.train)
    state = train.create_train_state(
        jax.random.PRNGKey(0), net, tx, config.data.input_res, variables=variables
    )
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


def peak_gb():
    """The first local device's peak memory in use so far, GB (None where not reported)."""
    stats = jax.local_devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else round(peak / 1e9, 3)


def time_train(config, steps, variables=None):
    """Train-step numbers of one (dtype, batch) configuration."""
    compiled, state, batch, compile_s = compiled_step(config, variables)
    old_leaf = jax.tree.leaves(state.params)[0]
    start = time.perf_counter()
    state, metrics = compiled(state, batch)  # warm-up; donates the fresh state
    jax.block_until_ready(state)
    first_step_s = time.perf_counter() - start
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
        "compile_s": round(compile_s, 2),
        "first_step_s": round(first_step_s, 3),
        "donated": bool(donated),
        "loss_finite": bool(np.isfinite(loss)),
        "temp_gb": temp_gb(compiled),
        "peak_gb": peak_gb(),
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
    parser.add_argument(
        "--no-forward", action="store_true", help="skip the forward pass and its dtype comparison"
    )
    parser.add_argument(
        "--cache", action="store_true", help="the persistent compilation cache on (compile_cache)"
    )
    args = parser.parse_args(argv)
    gpu_flags = compile_cache.apply_gpu_flags()  # before the first backend call, as launch.py
    cache = compile_cache.enable() if args.cache else None
    events = {}
    if args.cache:

        def count(name, **kwargs):
            del kwargs
            events[name] = events.get(name, 0) + 1

        jax.monitoring.register_event_listener(count)
    base = make_config("float32", 1, args.tiny)
    res = base.data.input_res
    net = model_lib.create_model(base.model)
    images = jnp.asarray(
        np.random.default_rng(1).uniform(0, 1, (max(args.batches), res, res, 3)), jnp.float32
    )
    variables = host_variables(net, res)
    runs, heatmaps_by_dtype = [], {}
    for dtype in args.dtypes:
        for batch in args.batches:
            config = make_config(dtype, batch, args.tiny)
            numbers = time_train(config, args.steps, variables)
            run = {"framework": "jax", "dtype": dtype, "per_device_batch": batch, **numbers}
            if not args.no_forward:
                fwd_rate, heatmaps = forward_numbers(config, batch, args.steps, variables, images)
                heatmaps_by_dtype.setdefault(dtype, heatmaps)  # the first batch size's
                run["forward_images_per_s"] = round(fwd_rate, 2)
            print(json.dumps(run), file=sys.stderr, flush=True)  # kept if a later compile hangs
            if batch == max(args.batches) and not args.no_remat:  # one compile per dtype
                remat = make_config(dtype, batch, args.tiny, remat=True)
                run["temp_gb_remat"] = temp_gb(compiled_step(remat, variables)[0])
            runs.append(run)
    differences = {}
    others = [d for d in heatmaps_by_dtype if d != "float32"]
    if others:  # same weights and images as a float32 forward pass (compiled here if needed)
        reference = heatmaps_by_dtype.get("float32")
        if reference is None:
            config = make_config("float32", min(args.batches), args.tiny)
            reference = forward_numbers(config, min(args.batches), 1, variables, images)[1]
        for dtype in others:
            heatmaps = heatmaps_by_dtype[dtype]
            n = min(len(heatmaps), len(reference))
            diff = np.linalg.norm(heatmaps[:n] - reference[:n]) / np.linalg.norm(reference[:n])
            differences[f"{dtype}_heatmaps_rel_diff"] = float(f"{diff:.3g}")
    result = {
        "benchmark": "device_step_throughput",
        "model": "tiny" if args.tiny else "default",
        "input_res": res,
        "runs": runs,
        **differences,
        "peak_device_gb": peak_gb(),
        "device_count": jax.local_device_count(),
        "device": jax.devices()[0].device_kind,
        "backend": jax.default_backend(),
        "cpu_count": os.cpu_count(),
        "jax_version": jax.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "gpu_flags_added": list(gpu_flags),
        "compilation_cache": str(cache) if cache else None,
    }
    if args.cache:
        result["cache_hits"] = events.get("/jax/compilation_cache/cache_hits", 0)
        result["cache_misses"] = events.get("/jax/compilation_cache/cache_misses", 0)
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
