"""The authors' PyTorch network timed as model_throughput.py times ours; one JSON line.

    python benchmarks/pytorch_throughput.py [--repeats 2] [--threads 2] [--tiny]
    python benchmarks/pytorch_throughput.py --train-runs [--device cuda]
        [--dtypes float32 bfloat16] [--batches 6 32 128] [--steps 20] [--channels-last]

Same conditions as benchmarks/model_throughput.py, so the two can be compared on
one machine in one session: forward images/s at batch 1 and 8 (eval mode, no
autograd), and a training step at batch 6 (forward, the MSE of both stacks'
heatmaps, the depth L2 on half the batch, backward, RMSprop with Torch7's
decay 0.99 and eps 1e-8 outside the square root). Needs torch (the `convert` extra).

--train-runs (the GPU check, benchmarks/gpu_check.sh) times only that training step,
per dtype and batch, on --device, and prints one JSON line per run as it finishes:
images/s over --steps steps after three warm-up steps, warmup_s (the first step:
cuDNN's algorithm search under cudnn.benchmark), peak_gb (torch.cuda.max_memory_allocated
of that run). bfloat16 is autocast (AMP): the forward pass in bfloat16 where PyTorch
allows it, float32 weights, RMSprop state and losses; no gradient scaler (bfloat16
has float32's range). float32 convolutions use TF32 as PyTorch does by default on
Ampere and newer GPUs (torch.backends.cudnn.allow_tf32), as XLA's default precision does.
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


def _synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_run(model_config, res, device, dtype, batch, steps, channels_last=False):
    """Images/s, warm-up seconds and peak memory of one (dtype, batch) training run."""
    torch.manual_seed(0)
    net = _net(model_config, res).to(device).train()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=memory_format)
    rng = np.random.default_rng(1)
    images = torch.from_numpy(rng.uniform(0, 1, (batch, 3, res, res)).astype(np.float32))
    images = images.to(device).contiguous(memory_format=memory_format)
    hm_res = res // 4
    heatmaps = torch.from_numpy(rng.uniform(0, 0.1, (batch, 16, hm_res, hm_res)).astype(np.float32))
    heatmaps = heatmaps.to(device)
    depth = torch.from_numpy(rng.uniform(-0.5, 0.5, (batch, 16)).astype(np.float32)).to(device)
    has_depth = (torch.arange(batch) % 2 == 0).float().to(device)
    optimizer = torch.optim.RMSprop(net.parameters(), lr=2.5e-4, alpha=0.99, eps=1e-8)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bfloat16")

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            outputs, pred_depth = net(images)
        loss = sum(torch.mean((h.float() - heatmaps) ** 2) for h in outputs)
        depth_l2 = torch.mean((pred_depth.float() - depth) ** 2, dim=1)
        loss = loss + 0.1 * torch.mean(depth_l2 * has_depth)
        loss.backward()
        optimizer.step()
        return loss

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    step()
    _synchronize(device)
    warmup_s = time.perf_counter() - start
    for _ in range(2):
        step()
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    _synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None
    return {
        "framework": "pytorch",
        "dtype": dtype,
        "per_device_batch": batch,
        "train_images_per_s": round(steps * batch / seconds, 2),
        "warmup_s": round(warmup_s, 3),
        "peak_gb": None if peak is None else round(peak, 3),
        "loss_finite": bool(torch.isfinite(loss).item()),
        "channels_last": channels_last,
    }


def train_runs(args):
    """--train-runs: one JSON line per (dtype, batch), printed as each finishes."""
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    config = default.get_config()
    res = 256
    if args.tiny:
        config.model.num_features, config.model.num_stacks, res = 32, 1, 128
    common = {
        "benchmark": "pytorch_throughput",
        "model": "tiny" if args.tiny else "default",
        "input_res": res,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_version": torch.__version__,
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
    }
    results = []
    for dtype in args.dtypes:
        for batch in args.batches:
            run = train_run(config.model, res, device, dtype, batch, args.steps, args.channels_last)
            results.append({**run, **common})
            print(json.dumps(results[-1]), flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--tiny", action="store_true", help="a small model, for a quick check")
    parser.add_argument("--train-runs", action="store_true", help="only the training step, per run")
    parser.add_argument("--device", default="cpu", help="--train-runs: cpu or cuda")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--batches", nargs="+", type=int, default=[6, 32, 128])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--channels-last", action="store_true", help="NHWC tensors and weights")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.train_runs:
        return train_runs(args)
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
