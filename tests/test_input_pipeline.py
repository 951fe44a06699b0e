"""Host input pipeline on tiny fake shards: batch layout, per-sample source mixing,
a reproducible and resumable order, exact-once evaluation, clear errors."""

import itertools

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from datasets import fake_shards
from pose3d_jax.data import input_pipeline

IMAGE_SIZE = 32  # the real shards store 384 px; the pipeline reads the size from them
SPLITS = {"h36m": {"train": 40, "test": 9}, "mpii": {"train": 40, "validation": 11}}
DEVICES = 2
BATCH = 8


def write_shards(root, ordered):
    tfds.disable_progress_bar()
    for seed, (name, splits) in enumerate(SPLITS.items()):
        fake_shards.write_fake_shards(
            root, name, splits, image_size=IMAGE_SIZE, seed=seed, ordered=ordered
        )
    return root


@pytest.fixture(scope="session")
def shards(tmp_path_factory):
    """Stored in a fixed order, as the real builders store them."""
    return write_shards(tmp_path_factory.mktemp("shards"), ordered=True)


@pytest.fixture(scope="session")
def shuffled_file_shards(tmp_path_factory):
    """Shards TFDS may read in a shuffled file order."""
    return write_shards(tmp_path_factory.mktemp("shuffled_file_shards"), ordered=False)


BOTH_LAYOUTS = pytest.mark.parametrize("layout", ["shards", "shuffled_file_shards"])


def take(ds, count):
    return list(itertools.islice(input_pipeline.numpy_iterator(ds), count))


def train(shards, **kwargs):
    defaults = {"batch_size": BATCH, "seed": 0, "num_local_devices": DEVICES, "shuffle_buffer": 16}
    return input_pipeline.create_train_dataset(shards, **(defaults | kwargs))


def test_train_batches_are_split_per_device(shards):
    (batch,) = take(train(shards), 1)
    per_device = BATCH // DEVICES
    assert set(batch) == set(input_pipeline.TRAIN_KEYS)
    assert batch["image"].shape == (DEVICES, per_device, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert batch["image"].dtype == np.uint8
    assert batch["joints_2d"].shape == (DEVICES, per_device, 16, 2)
    assert batch["visible"].dtype == bool and batch["has_depth"].shape == (DEVICES, per_device)


def test_batches_are_split_per_process(shards):
    (batch,) = take(train(shards, process_index=1, process_count=2), 1)
    assert batch["image"].shape[:2] == (DEVICES, BATCH // 2 // DEVICES)


@pytest.mark.parametrize("ratio", [0.5, 0.2])
def test_sources_mix_per_sample_at_the_ratio(shards, ratio):
    batches = take(train(shards, ratio_3d=ratio, batch_size=100), 20)
    from_h36m = np.concatenate([b["has_depth"].ravel() for b in batches])
    assert from_h36m.size == 2000
    assert abs(from_h36m.mean() - ratio) < 0.05
    mixed = [b["has_depth"].mean() for b in batches]
    assert all(0.0 < m < 1.0 for m in mixed)  # mixed inside batches, not batch by batch


def test_one_source_alone(shards):
    batches = take(train(shards, sources=("mpii",)), 3)
    assert not any(b["has_depth"].any() for b in batches)


@BOTH_LAYOUTS
def test_same_seed_same_order_other_seed_differs(request, layout):
    shards = request.getfixturevalue(layout)
    first, again, other = (take(train(shards, seed=s), 4) for s in (3, 3, 4))
    for a, b in zip(first, again, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert not all(
        np.array_equal(a["joints_2d"], c["joints_2d"]) for a, c in zip(first, other, strict=True)
    )


@BOTH_LAYOUTS
def test_resume_at_a_step_continues_the_same_order(request, layout):
    shards = request.getfixturevalue(layout)
    uninterrupted = take(train(shards, seed=5), 12)  # past one epoch of each source
    resumed = take(train(shards, seed=5, start_step=9), 3)
    for a, b in zip(uninterrupted[9:], resumed, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_missing_shards_name_the_directory(shards, tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "h36m")):
        train(tmp_path, sources=("h36m",))
    with pytest.raises(ValueError, match="no split 'train2'"):
        input_pipeline.create_eval_dataset(
            shards, "mpii", "train2", batch_size=BATCH, num_local_devices=DEVICES
        )


def test_batch_must_split_over_devices(shards):
    with pytest.raises(ValueError, match="divisible"):
        train(shards, batch_size=7)


@pytest.mark.parametrize("name,split", [("mpii", "validation"), ("h36m", "test")])
def test_eval_visits_every_example_once_on_every_process(shards, name, split):
    processes = 2
    seen, batch_counts = [], []
    for index in range(processes):
        ds = input_pipeline.create_eval_dataset(
            shards,
            name,
            split,
            batch_size=BATCH,
            num_local_devices=DEVICES,
            process_index=index,
            process_count=processes,
        )
        batches = list(input_pipeline.numpy_iterator(ds))
        assert len(batches) == int(ds.cardinality())
        batch_counts.append(len(batches))
        for batch in batches:
            assert batch["mask"].shape == (DEVICES, BATCH // processes // DEVICES)
            real = batch["mask"]
            key = "index" if name == "mpii" else "frame"
            seen.extend(batch[key][real].tolist())
            assert not batch["image"][~real].any()
    assert len(set(batch_counts)) == 1  # pmap needs the same step count everywhere
    assert sorted(seen) == sorted(set(seen)) and len(seen) == SPLITS[name][split]


def test_prefetch_to_device_feeds_pmap(shards):
    devices = jax.local_devices()[:DEVICES]
    if len(devices) < DEVICES:
        pytest.skip("needs two JAX devices (tests/conftest.py forces four CPU devices)")
    ds = input_pipeline.create_eval_dataset(
        shards, "mpii", "validation", batch_size=BATCH, num_local_devices=DEVICES
    )
    batches = input_pipeline.prefetch_to_device(input_pipeline.numpy_iterator(ds), 2, devices)
    total = 0
    for batch in batches:
        assert isinstance(batch["image"], jax.Array) and isinstance(batch["imgname"], np.ndarray)
        counts = jax.pmap(lambda m: m.sum(), devices=devices)(batch["mask"])
        total += int(counts.sum())
    assert total == SPLITS["mpii"]["validation"]


def test_read_labels_returns_a_whole_split_in_order(shards):
    labels = input_pipeline.read_labels(shards, "h36m", "test", ("joints_3d_mm", "scale"))
    builder = tfds.builder_from_directory(str(input_pipeline.dataset_dir(shards, "h36m")))
    stored = list(builder.as_dataset(split="test").as_numpy_iterator())
    assert labels["joints_3d_mm"].shape == (SPLITS["h36m"]["test"], 16, 3)
    np.testing.assert_array_equal(labels["joints_3d_mm"], [e["joints_3d_mm"] for e in stored])
    np.testing.assert_array_equal(labels["scale"], [e["scale"] for e in stored])
    with pytest.raises(ValueError, match="no feature"):
        input_pipeline.read_labels(shards, "mpii", "validation", ("joints_3d_mm",))
