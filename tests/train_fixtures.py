"""Tiny training configurations and batches shared by the training tests."""

import numpy as np

from configs import synthetic
from pose3d_jax import skeleton

STORED = 96  # stored crop side for 64 px inputs (1.5x the box)
INPUT_RES = 64


def tiny_config(data_dir="", **train_overrides):
    """configs/synthetic.py shrunk to seconds per step on a CPU."""
    config = synthetic.get_config()
    config.data.data_dir = str(data_dir)
    config.data.input_res = INPUT_RES
    config.data.heatmap_res = INPUT_RES // 4
    config.data.shuffle_buffer = 16
    config.model.num_stacks = 2
    config.model.num_features = 16
    config.model.hourglass_depth = 2
    config.train.batch_size = 4
    config.train.steps_per_epoch = 5
    config.train.num_epochs = 2
    config.train.drop_lr_epoch = -1
    config.train.log_every_steps = 5
    config.train.checkpoint_every_steps = 5
    config.eval.every_steps = 1000
    config.eval.batch_size = 4
    config.eval.max_batches = 1
    for key, value in train_overrides.items():
        config.train[key] = value
    return config


def host_batch(batch_size, seed=0):
    """One global batch in the shards' common schema (half H36M, half MPII)."""
    rng = np.random.default_rng(seed)
    box = STORED / 1.5
    center = np.full((batch_size, 2), STORED / 2, np.float32)
    joints = center[:, None, :] + rng.uniform(-box / 2.2, box / 2.2, (batch_size, 16, 2))
    has_depth = np.arange(batch_size) % 2 == 0
    return {
        "image": rng.integers(0, 256, (batch_size, STORED, STORED, 3), dtype=np.uint8),
        "joints_2d": joints.astype(np.float32),
        "visible": rng.uniform(size=(batch_size, skeleton.NUM_JOINTS)) > 0.1,
        "depth": (rng.uniform(-0.5, 0.5, (batch_size, 16)) * has_depth[:, None]).astype(np.float32),
        "has_depth": has_depth,
        "center": center,
        "scale": np.full((batch_size,), box / 200, np.float32),
    }


def split_for_devices(batch, num_devices):
    """[B, ...] -> [devices, B / devices, ...], as the input pipeline shapes batches."""
    return {k: v.reshape((num_devices, -1, *v.shape[1:])) for k, v in batch.items()}
