"""Inference speed of the network on this machine, randomly initialised.

    python benchmarks/infer_latency.py            # the default model (2 stacks, 256 features)
    python benchmarks/infer_latency.py --tiny     # a seconds-long check of the script

Prints ONE JSON line: compile seconds, per-image latency at batch 1 and
throughput at a larger batch (default 16), for the jitted forward pass with
heatmap decoding (network.forward); host-side image loading and cropping are
not included. On the 2-core CPU machine of ENVIRONMENT.md the default model
runs at about 1.3 images/s, so the full run takes a few minutes.
"""

import argparse
import json
import os
import platform
import statistics
import time

import jax
import numpy as np

from pose3d_jax import model
from pose3d_jax.model import network

DEFAULT_MODEL = {"num_stacks": 2, "num_modules": 2, "num_features": 256, "num_reg_modules": 2}
TINY_MODEL = {
    "num_stacks": 1,
    "num_modules": 1,
    "num_features": 16,
    "num_reg_modules": 1,
    "hourglass_depth": 2,
}


def _timed(fn, *args):
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - start


def measure_batch(net, variables, batch, input_res, repeats):
    """(compile seconds, [seconds per run]) of the forward pass at one batch size."""
    inputs = np.random.default_rng(0).uniform(0, 1, (batch, input_res, input_res, 3))
    inputs = jax.device_put(inputs.astype(np.float32))
    start = time.perf_counter()
    compiled = network.forward.lower(net, variables, inputs).compile()
    compile_s = time.perf_counter() - start
    _timed(compiled, variables, inputs)  # warm-up: first-run allocations
    runs = [_timed(compiled, variables, inputs)[1] for _ in range(repeats)]
    return compile_s, runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny model (quick check)")
    parser.add_argument("--batch", type=int, default=16, help="batch size of the throughput run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per batch size")
    parser.add_argument("--input-res", type=int, default=network.DEFAULT_INPUT_RES)
    args = parser.parse_args()

    config = TINY_MODEL if args.tiny else DEFAULT_MODEL
    net = model.create_model(config)
    variables, init_s = _timed(network.init_variables, net, args.input_res)
    params = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(variables["params"]))
    compile_1, runs_1 = measure_batch(net, variables, 1, args.input_res, args.repeats)
    compile_b, runs_b = measure_batch(net, variables, args.batch, args.input_res, args.repeats)
    median_b = statistics.median(runs_b)
    record = {
        "benchmark": "infer_latency",
        "model": "tiny" if args.tiny else "default",
        "model_config": model.model_meta(config),
        "params": params,
        "input_res": args.input_res,
        "device": jax.devices()[0].device_kind,
        "backend": jax.default_backend(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "jax": jax.__version__,
        "init_s": round(init_s, 2),
        "compile_s_batch_1": round(compile_1, 2),
        f"compile_s_batch_{args.batch}": round(compile_b, 2),
        "latency_ms_batch_1": round(1000 * statistics.median(runs_1), 1),
        f"throughput_img_per_s_batch_{args.batch}": round(args.batch / median_b, 2),
        f"ms_per_image_batch_{args.batch}": round(1000 * median_b / args.batch, 1),
        "repeats": args.repeats,
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
