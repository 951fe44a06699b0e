"""Input throughput: host reading + JPEG decoding, and on-device augmentation.

Prints one JSON line:
  host_images_per_s          training batches out of create_train_dataset (read, decode, batch)
  host_images_per_cpu_s      the same per second of process CPU time, i.e. per busy core
  resume_skip_records_per_s  records skipped per second when resuming at a later step
  device_images_per_s        jit(augment_batch) on batches of `--device_batch`, after warm-up
Without --data_dir it writes a small fake shard set (384 px JPEG crops, as the real
shards) to a temporary directory first.

  .venv/bin/python benchmarks/input_throughput.py [--data_dir SHARDS] [--host_batches 40]
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `datasets` is not installed

import jax
import numpy as np
import tensorflow_datasets as tfds

from datasets import fake_shards
from pose3d_jax.data import augment, input_pipeline

STORED_SIZE = 384  # the real shards' stored crop size
SOURCES = ("h36m", "mpii")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", help="shard root; default: generate fake shards")
    parser.add_argument("--fake_examples", type=int, default=192, help="per generated source")
    parser.add_argument("--host_batch", type=int, default=32)
    parser.add_argument("--host_batches", type=int, default=40, help="timed host batches")
    parser.add_argument(
        "--skip_steps", type=int, default=200, help="resume point for the skip timing"
    )
    parser.add_argument("--device_batch", type=int, default=32)
    parser.add_argument("--device_steps", type=int, default=20)
    return parser.parse_args(argv)


def write_fake_data(root, examples):
    with contextlib.redirect_stdout(sys.stderr):  # TFDS prints; stdout carries the JSON only
        for seed, name in enumerate(SOURCES):
            fake_shards.write_fake_shards(
                root, name, {"train": examples}, image_size=STORED_SIZE, seed=seed
            )
    return root


def mean_record_bytes(data_dir):
    files = [f for name in SOURCES for f in (Path(data_dir) / name).glob("**/*-train.tfrecord*")]
    count = sum(
        tfds.builder_from_directory(str(input_pipeline.dataset_dir(data_dir, name)))
        .info.splits["train"]
        .num_examples
        for name in SOURCES
    )
    return sum(f.stat().st_size for f in files) / count


def train_stream(data_dir, batch_size, start_step=0):
    ds = input_pipeline.create_train_dataset(
        data_dir,
        sources=SOURCES,
        batch_size=batch_size,
        seed=0,
        num_local_devices=1,
        process_index=0,
        process_count=1,
        start_step=start_step,
    )
    return input_pipeline.numpy_iterator(ds)


def time_host(data_dir, batch_size, batches):
    """Images per wall second and per CPU second (all pipeline threads)."""
    stream = train_stream(data_dir, batch_size)
    for _ in range(3):  # fill the shuffle buffers and the prefetch
        next(stream)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        batch = next(stream)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    images = batches * batch_size
    return images / wall, images / cpu, batch


def time_to_first_batch(data_dir, batch_size, start_step):
    start = time.perf_counter()
    next(train_stream(data_dir, batch_size, start_step))
    return time.perf_counter() - start


def time_skip(data_dir, batch_size, steps):
    """Records skipped per second when a run resumes at `steps` (read, not decoded)."""
    base = time_to_first_batch(data_dir, batch_size, 0)
    later = time_to_first_batch(data_dir, batch_size, steps)
    return steps * batch_size / max(later - base, 1e-6)


def time_device(host_batch, batch_size, steps):
    """Augmented images per second of jit(augment_batch) on the default device."""
    flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in host_batch.items()}
    repeats = -(-batch_size // len(flat["scale"]))
    batch = {k: np.concatenate([v] * repeats)[:batch_size] for k, v in flat.items()}
    batch = jax.device_put(batch)
    step = jax.jit(augment.augment_batch)
    key = jax.random.key(0)
    jax.block_until_ready(step(key, batch))
    start = time.perf_counter()
    for i in range(steps):
        out = step(jax.random.fold_in(key, i), batch)
    jax.block_until_ready(out)
    return steps * batch_size / (time.perf_counter() - start)


def main(argv):
    args = parse_args(argv)
    tfds.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or write_fake_data(Path(tmp), args.fake_examples)
        host_rate, host_per_cpu, batch = time_host(data_dir, args.host_batch, args.host_batches)
        result = {
            "benchmark": "input_throughput",
            "data": "given" if args.data_dir else "fake shards",
            "stored_image_px": int(batch["image"].shape[-2]),
            "mean_record_bytes": round(mean_record_bytes(data_dir)),
            "host_batch": args.host_batch,
            "host_images_per_s": round(host_rate, 1),
            "host_images_per_cpu_s": round(host_per_cpu, 1),
            "cpu_count": os.cpu_count(),
            "resume_skip_records_per_s": round(
                time_skip(data_dir, args.host_batch, args.skip_steps)
            ),
            "device": jax.devices()[0].device_kind,
            "device_batch": args.device_batch,
            "device_images_per_s": round(
                time_device(batch, args.device_batch, args.device_steps), 1
            ),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
