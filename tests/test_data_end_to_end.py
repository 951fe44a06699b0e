"""Synthetic raw files -> TFDS builders -> tf.data pipeline -> on-device augmentation."""

import jax
import numpy as np
from data_fixtures import tiny_shards  # noqa: F401

from pose3d_jax import geometry
from pose3d_jax.data import augment, input_pipeline


def test_real_builders_feed_the_pipeline_and_augmentation(tiny_shards):  # noqa: F811
    ds = input_pipeline.create_train_dataset(
        tiny_shards, sources=("h36m", "mpii"), ratio_3d=0.5, batch_size=8, seed=0,
        num_local_devices=2, process_index=0, process_count=1, shuffle_buffer=32,
    )  # fmt: skip
    batch = next(input_pipeline.numpy_iterator(ds))
    assert batch["image"].shape == (2, 4, 384, 384, 3) and batch["image"].dtype == np.uint8
    assert batch["joints_2d"].shape == (2, 4, 16, 2)
    flat = {k: v.reshape((8, *v.shape[2:])) for k, v in batch.items()}
    out = jax.jit(augment.augment_batch)(jax.random.key(0), flat)
    assert out["inputs"].shape == (8, 256, 256, 3) and out["inputs"].dtype == np.float32
    assert out["heatmaps"].shape == (8, 64, 64, 16)
    assert float(out["inputs"].min()) >= 0.0 and float(out["inputs"].max()) <= 1.0
    decoded, _ = geometry.decode_heatmaps(out["heatmaps"])
    visible = np.asarray(out["visible"])
    assert visible.sum() > 0
    error = np.abs(np.asarray(decoded) - np.asarray(out["joints_2d"]))[visible]
    assert error.max() <= 1.0
    # H36M samples carry depth and are not augmented (as the original).
    has_depth = np.asarray(out["has_depth"])
    assert np.all(np.asarray(out["depth"])[~has_depth] == 0.0)


def test_eval_iterator_visits_each_built_example_once(tiny_shards):  # noqa: F811
    ds = input_pipeline.create_eval_dataset(
        tiny_shards, "mpii", "validation", batch_size=3, num_local_devices=1,
        process_index=0, process_count=1,
    )  # fmt: skip
    batches = list(input_pipeline.numpy_iterator(ds))
    mask = np.concatenate([b["mask"].reshape(-1) for b in batches])
    keys = [
        (int(i), int(p))
        for b in batches
        for i, p, m in zip(
            b["index"].reshape(-1), b["person"].reshape(-1), b["mask"].reshape(-1), strict=True
        )
        if m
    ]
    assert len(keys) == len(set(keys)) == int(mask.sum()) > 0
