"""Forward and train-step throughput of the default 256x256 model; one JSON line.

    python benchmarks/model_throughput.py [--repeats 3] [--tiny]

Reports forward images/s at batch 1 and 8, train-step images/s at batch 6
(forward, both losses, backward, RMSprop update, pure JAX step with the
targets given), compile seconds of the train step, and peak RSS.
"""

import argparse
import functools
import json
import os
import resource
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configs import default
from pose3d_jax import geometry, model
from pose3d_jax.runtime import malloc_tuning
from pose3d_jax.training import losses, train


def _targets(batch, res):
    rng = np.random.default_rng(0)
    hm_res = res // 4
    points = rng.uniform(2, hm_res - 2, (batch, 16, 2)).astype(np.float32)
    visible = np.ones((batch, 16), bool)
    return {
        "heatmaps": geometry.render_heatmaps(points, visible, hm_res),
        "depth": rng.uniform(-0.5, 0.5, (batch, 16)).astype(np.float32),
        "has_depth": np.arange(batch) % 2 == 0,
        "visible": visible,
    }


def _time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="a small model, for a quick check")
    args = parser.parse_args(argv)
    config = default.get_config()
    res = 256
    if args.tiny:
        config.model.num_features, config.model.num_stacks, res = 32, 1, 128
    net = model.create_model(config.model)
    images = jnp.asarray(np.random.default_rng(1).uniform(0, 1, (8, res, res, 3)), jnp.float32)
    variables = jax.jit(functools.partial(net.init, train=False))(jax.random.key(0), images[:1])
    forward = jax.jit(functools.partial(net.apply, train=False))
    result = {"model": "tiny" if args.tiny else "default", "input": res}
    for batch in (1, 8):
        x = images[:batch]
        jax.block_until_ready(forward(variables, x))
        seconds = _time(lambda x=x: forward(variables, x), args.repeats)
        result[f"forward_b{batch}_images_per_s"] = round(batch / seconds, 3)

    tx, _ = train.create_optimizer(config.train)
    opt_state = tx.init(variables["params"])
    targets = _targets(6, res)
    x6 = jnp.concatenate([images, images])[:6]

    @jax.jit
    def step(params, batch_stats, opt_state):
        def loss_fn(p):
            out, upd = net.apply(
                {"params": p, "batch_stats": batch_stats}, x6, train=True, mutable=["batch_stats"]
            )
            total, _ = losses.total_loss(out, targets, reg_weight=0.1, var_weight=0.01)
            return total, upd["batch_stats"]

        (_, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return jax.tree.map(jnp.add, params, updates), new_stats, opt_state

    start = time.perf_counter()
    compiled = step.lower(variables["params"], variables["batch_stats"], opt_state).compile()
    result["train_compile_s"] = round(time.perf_counter() - start, 1)
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seconds = _time(
        lambda: compiled(variables["params"], variables["batch_stats"], opt_state), args.repeats
    )
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    result["train_b6_images_per_s"] = round(6 / seconds, 3)
    result["train_page_faults_per_step"] = faults // args.repeats
    result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    result["device"] = jax.devices()[0].device_kind
    result["glibc_tunables"] = os.environ.get("GLIBC_TUNABLES", "")
    print(json.dumps(result))


if __name__ == "__main__":
    malloc_tuning.reexec_with_tuned_malloc()
    main()
