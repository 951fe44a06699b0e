"""The authors' PyTorch network timed as model_throughput.py times ours; one JSON line.

    python benchmarks/pytorch_throughput.py [--repeats 2] [--threads 2] [--tiny]

Same conditions as benchmarks/model_throughput.py, so the two can be compared on
one machine in one session: forward images/s at batch 1 and 8 (eval mode, no
autograd), and a training step at batch 6 (forward, the MSE of both stacks'
heatmaps, the depth L2 on half the batch, backward, RMSprop with Torch7's
decay 0.99 and eps 1e-8 outside the square root). Needs torch (the `convert` extra).
"""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pytorch_reference import HourglassNet3D
from configs import default

TRAIN_BATCH = 6


def _time(fn, repeats):
    """The fastest of `repeats` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _net(model_config, res):
    return HourglassNet3D(
        model_config.num_stacks,
        model_config.num_modules,
        model_config.num_features,
        model_config.num_reg_modules,
        depth=model_config.hourglass_depth,
        input_size=res,
    )


def _train_step(net, optimizer, images, heatmaps, depth, has_depth, reg_weight):
    """One step of the original recipe's losses (SPEC 4, without the geometric term)."""
    optimizer.zero_grad(set_to_none=True)
    outputs, pred_depth = net(images)
    loss = sum(torch.mean((h - heatmaps) ** 2) for h in outputs)
    depth_l2 = torch.mean((pred_depth - depth) ** 2, dim=1)
    loss = loss + reg_weight * torch.mean(depth_l2 * has_depth)
    loss.backward()
    optimizer.step()
    return loss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--tiny", action="store_true", help="a small model, for a quick check")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = default.get_config()
    res = 256
    if args.tiny:
        config.model.num_features, config.model.num_stacks, res = 32, 1, 128
    net = _net(config.model, res)
    rng = np.random.default_rng(1)
    images = torch.from_numpy(rng.uniform(0, 1, (8, 3, res, res)).astype(np.float32))
    result = {"model": "tiny" if args.tiny else "default", "input": res, "framework": "pytorch"}

    net.eval()
    with torch.no_grad():
        for batch in (1, 8):
            x = images[:batch]
            net(x)  # warm-up
            seconds = _time(lambda x=x: net(x), args.repeats)
            result[f"forward_b{batch}_images_per_s"] = round(batch / seconds, 3)

    net.train()
    hm_res = res // 4
    heatmaps = torch.from_numpy(rng.uniform(0, 0.1, (TRAIN_BATCH, 16, hm_res, hm_res)))
    heatmaps = heatmaps.float()
    depth = torch.from_numpy(rng.uniform(-0.5, 0.5, (TRAIN_BATCH, 16)).astype(np.float32))
    has_depth = torch.tensor([1.0, 0.0] * (TRAIN_BATCH // 2))
    x6 = torch.cat([images, images])[:TRAIN_BATCH]
    optimizer = torch.optim.RMSprop(
        net.parameters(),
        lr=config.train.learning_rate,
        alpha=config.train.rmsprop_decay,
        eps=config.train.rmsprop_eps,
    )

    def step():
        return _train_step(net, optimizer, x6, heatmaps, depth, has_depth, reg_weight=0.1)

    step()  # warm-up (allocations, optimizer state)
    seconds = _time(step, args.repeats)
    result["train_b6_images_per_s"] = round(TRAIN_BATCH / seconds, 3)
    result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    result["threads"] = torch.get_num_threads()
    result["torch_version"] = torch.__version__
    result["glibc_tunables"] = os.environ.get("GLIBC_TUNABLES", "")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    from pose3d_jax.runtime import malloc_tuning

    malloc_tuning.reexec_with_tuned_malloc()
    main()
