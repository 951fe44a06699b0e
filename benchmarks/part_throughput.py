"""Each part of the network timed alone in JAX and in the authors' PyTorch; one JSON line.

    python benchmarks/part_throughput.py [--repeats 10] [--threads 2] [--tiny]

Where model_throughput.py and pytorch_throughput.py compare whole train steps,
this times the parts they are made of, each compiled (JAX) or run (PyTorch) on
its own at the train step's batch of 6: BatchNorm+ReLU, the two 1x1
convolutions and the 3x3 convolution of a residual module, a residual module,
one hourglass, and the whole network. "forward_ms" is the training-mode forward
pass; "train_ms" is forward and backward (the value and the gradients of every
parameter and of the input) of sum(outputs * fixed weights). Median of `repeats` calls, after two
warm-up calls. A part that is faster alone than in the whole step shows where
composing the graph costs. Needs torch (the `convert` extra).
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
import torch
from flax import linen as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import pytorch_reference, pytorch_throughput
from pose3d_jax import model
from pose3d_jax.runtime import malloc_tuning

BATCH = pytorch_throughput.TRAIN_BATCH  # the train step's batch


def _median_ms(fn, repeats):
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(1e3 * float(np.median(times)), 2)


def _jax_parts(res, features, depth):
    """name -> (flax module, NHWC input shape): the parts as the model builds them."""
    norm, conv = model.layer_factories(train=True)
    residual = functools.partial(model.Residual, norm=norm, conv=conv)
    half = features // 2

    class BnRelu(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.relu(norm()(x))

    class Conv(nn.Module):
        features: int
        kernel: int

        @nn.compact
        def __call__(self, x):
            pad = {"padding": ((1, 1), (1, 1))} if self.kernel == 3 else {}
            return conv(self.features, (self.kernel, self.kernel), **pad)(x)

    return {
        "bn_relu": (BnRelu(), (BATCH, res, res, features)),
        "conv1x1_reduce": (Conv(half, 1), (BATCH, res, res, features)),
        "conv1x1_expand": (Conv(features, 1), (BATCH, res, res, half)),
        "conv3x3": (Conv(half, 3), (BATCH, res, res, half)),
        "residual": (residual(features), (BATCH, res, res, features)),
        "hourglass": (model.Hourglass(depth, features, 2, residual), (BATCH, res, res, features)),
    }


def _time_jax(module, shape, repeats, train_kwargs=None, input_grad=True):
    train_kwargs = train_kwargs or {}
    x = jax.random.uniform(jax.random.key(0), shape)
    variables = module.init(jax.random.key(1), x, **train_kwargs)
    params, state = variables["params"], {k: v for k, v in variables.items() if k != "params"}

    def forward(params, x):
        out, _ = module.apply(
            {"params": params, **state}, x, mutable=["batch_stats"], **train_kwargs
        )
        return out

    weights = jax.tree.map(
        lambda a: jax.random.normal(jax.random.key(2), a.shape, a.dtype), forward(params, x)
    )

    def loss(params, x):
        products = jax.tree.map(lambda a, w: jnp.sum(a * w), forward(params, x), weights)
        return sum(jax.tree.leaves(products))

    fwd = jax.jit(forward)
    # value_and_grad: with the loss value returned, the forward pass of a part that
    # is linear in its output (a convolution) is not dead code, as it would be for grad.
    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1) if input_grad else 0))
    return {
        "jax_forward_ms": _median_ms(lambda: jax.block_until_ready(fwd(params, x)), repeats),
        "jax_train_ms": _median_ms(lambda: jax.block_until_ready(grad(params, x)), repeats),
    }


def _torch_parts(res, features, depth):
    """name -> (torch module, NCHW input shape), the same parts of the authors' network."""
    half = features // 2
    ref = pytorch_reference
    return {
        "bn_relu": (
            torch.nn.Sequential(torch.nn.BatchNorm2d(features), torch.nn.ReLU()),
            (BATCH, features, res, res),
        ),
        "conv1x1_reduce": (torch.nn.Conv2d(features, half, 1), (BATCH, features, res, res)),
        "conv1x1_expand": (torch.nn.Conv2d(half, features, 1), (BATCH, half, res, res)),
        "conv3x3": (torch.nn.Conv2d(half, half, 3, padding=1), (BATCH, half, res, res)),
        "residual": (ref.Residual(features, features), (BATCH, features, res, res)),
        "hourglass": (ref.Hourglass(depth, 2, features), (BATCH, features, res, res)),
    }


def _time_torch(module, shape, repeats, input_grad=True):
    module.train()
    x = torch.rand(*shape, requires_grad=input_grad)
    with torch.no_grad():
        outputs = module(x)
    flat = list(outputs[0]) + [outputs[1]] if isinstance(outputs, tuple) else [outputs]
    weights = [torch.randn_like(o) for o in flat]

    def train():
        module.zero_grad(set_to_none=True)
        x.grad = None
        out = module(x)
        out = list(out[0]) + [out[1]] if isinstance(out, tuple) else [out]
        sum((o * w).sum() for o, w in zip(out, weights, strict=True)).backward()

    def forward():
        with torch.no_grad():
            module(x)

    return {
        "torch_forward_ms": _median_ms(forward, repeats),
        "torch_train_ms": _median_ms(train, repeats),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--tiny", action="store_true", help="small parts, for a quick check")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # The default model's parts: residual modules at the hourglass's 64x64 and 256 channels.
    res, features, depth, image_res, stacks = 64, 256, 4, 256, 2
    if args.tiny:
        res, features, depth, image_res, stacks = 16, 32, 2, 64, 1
    jax_parts, torch_parts = _jax_parts(res, features, depth), _torch_parts(res, features, depth)
    parts = {}
    for name, (module, shape) in jax_parts.items():
        parts[name] = _time_jax(module, shape, args.repeats)
        parts[name].update(_time_torch(*torch_parts[name], args.repeats))
    network = model.HourglassNet(num_stacks=stacks, num_features=features, hourglass_depth=depth)
    parts["network"] = _time_jax(
        network,
        (BATCH, image_res, image_res, 3),
        args.repeats,
        train_kwargs={"train": True},
        input_grad=False,
    )
    torch_network = pytorch_reference.HourglassNet3D(
        stacks, 2, features, 2, depth=depth, input_size=image_res
    )
    parts["network"].update(
        _time_torch(torch_network, (BATCH, 3, image_res, image_res), args.repeats, input_grad=False)
    )
    for timing in parts.values():
        timing["train_torch_over_jax"] = round(timing["torch_train_ms"] / timing["jax_train_ms"], 3)
    result = {
        "model": "tiny" if args.tiny else "default",
        "batch": BATCH,
        "part_res": res,
        "features": features,
        "threads": args.threads,
        "device": jax.devices()[0].device_kind,
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "parts": parts,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    malloc_tuning.reexec_with_tuned_malloc()
    main()
