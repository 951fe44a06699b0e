"""Tiny TFDS shard sets in the datasets' common schema, for tests and benchmarks.

The real shards come from the raw releases through the builders in `datasets/`;
these fakes are written directly (tfds.dataset_builders.store_as_tfds_dataset)
so that the input pipeline can be tested and timed in seconds, without raw data.
Each example is a smooth random picture with plausible joints inside the
person's box; the values mean nothing, the shapes, dtypes and keys match the
contract of datasets/README.md.
"""

from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from pose3d_jax import geometry, skeleton

VERSION = "1.0.0"
CROP_MARGIN = 1.5  # a stored crop covers 1.5 times the person's box
MISSING_JOINT_PROB = 0.1


def _common_features(image_size):
    tensor, scalar = tfds.features.Tensor, tfds.features.Scalar
    joints = skeleton.NUM_JOINTS
    return {
        "image": tfds.features.Image(shape=(image_size, image_size, 3), encoding_format="jpeg"),
        "joints_2d": tensor(shape=(joints, 2), dtype=np.float32),
        "visible": tensor(shape=(joints,), dtype=np.bool_),
        "depth": tensor(shape=(joints,), dtype=np.float32),
        "has_depth": scalar(dtype=np.bool_),
        "center": tensor(shape=(2,), dtype=np.float32),
        "scale": scalar(dtype=np.float32),
        "to_original": tensor(shape=(2, 3), dtype=np.float32),
    }


def _extra_features(name):
    """Evaluation extras of each dataset, as the real builders store them."""
    tensor, scalar = tfds.features.Tensor, tfds.features.Scalar
    joints = skeleton.NUM_JOINTS
    int_scalar = scalar(dtype=np.int32)
    if name == "h36m":
        ids = ("subject", "action", "subaction", "camera", "frame")
        return {
            "joints_3d_mm": tensor(shape=(joints, 3), dtype=np.float32),
            "bbox": tensor(shape=(4,), dtype=np.float32),
        } | dict.fromkeys(ids, int_scalar)
    if name == "mpii":
        return {
            "center_orig": tensor(shape=(2,), dtype=np.float32),
            "scale_orig": scalar(dtype=np.float32),
            "normalize": scalar(dtype=np.float32),
            "imgname": tfds.features.Text(),
            "index": int_scalar,
            "person": int_scalar,
            "joints_2d_orig": tensor(shape=(joints, 2), dtype=np.float32),
        }
    if name == "mpi_inf_3dhp":
        ids = ("sequence", "activity", "frame")
        return {"joints_3d_mm": tensor(shape=(joints, 3), dtype=np.float32)} | dict.fromkeys(
            ids, int_scalar
        )
    raise ValueError(f"unknown dataset {name!r}; expected h36m, mpii or mpi_inf_3dhp")


def features(name, image_size):
    """The FeaturesDict of dataset `name` with stored images of image_size pixels."""
    return tfds.features.FeaturesDict(_common_features(image_size) | _extra_features(name))


def _smooth_image(rng, size):
    """A photo-like picture: upsampled coarse noise plus fine grain (JPEG-realistic)."""
    coarse = rng.uniform(0, 255, (size // 16 + 1, size // 16 + 1, 3))
    image = np.kron(coarse, np.ones((16, 16, 1)))[:size, :size]
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _extras(rng, name, index, joints_2d, to_original):
    joints_orig = geometry.apply_affine(to_original, joints_2d).astype(np.float32)
    joints_3d = rng.normal(0, 300, (skeleton.NUM_JOINTS, 3)).astype(np.float32)
    joints_3d[:, 2] += 4000.0
    if name == "h36m":
        ids = {"subject": 9, "action": 2 + index % 15, "subaction": 1, "camera": 1}
        bbox = np.array([100, 50, 548, 498], np.float32)
        return {"joints_3d_mm": joints_3d, "bbox": bbox, "frame": 1 + 5 * index} | ids
    if name == "mpii":
        return {
            "center_orig": joints_orig.mean(axis=0),
            "scale_orig": np.float32(1.0),
            "normalize": np.float32(30.0),
            "imgname": f"{index:09d}.jpg",
            "index": index,
            "person": 0,
            "joints_2d_orig": joints_orig,
        }
    return {"joints_3d_mm": joints_3d, "sequence": 1 + index % 6, "activity": 1, "frame": index}


def fake_example(rng, name, index, image_size):
    """One example of dataset `name` (a dict of NumPy values in the schema)."""
    scale = image_size / (CROP_MARGIN * geometry.BOX_PIXELS_PER_SCALE)
    center = np.full(2, image_size / 2.0, np.float32)
    half_box = scale * geometry.BOX_PIXELS_PER_SCALE / 2.0
    joints_2d = rng.uniform(center - half_box, center + half_box, (skeleton.NUM_JOINTS, 2))
    visible = rng.random(skeleton.NUM_JOINTS) > MISSING_JOINT_PROB
    has_depth = name != "mpii"
    depth = rng.uniform(-1, 1, skeleton.NUM_JOINTS) if has_depth else np.zeros(skeleton.NUM_JOINTS)
    to_original = np.array([[2.0, 0.0, 100.0], [0.0, 2.0, 50.0]], np.float32)
    example = {
        "image": _smooth_image(rng, image_size),
        "joints_2d": np.where(visible[:, None], joints_2d, 0.0).astype(np.float32),
        "visible": visible,
        "depth": depth.astype(np.float32),
        "has_depth": has_depth,
        "center": center,
        "scale": np.float32(scale),
        "to_original": to_original,
    }
    return example | _extras(rng, name, index, example["joints_2d"], to_original)


def write_fake_shards(data_dir, name, splits, *, image_size, seed=0, ordered=True):
    """Writes dataset `name` under data_dir/name/VERSION with the given splits.

    Args:
      data_dir: the shard root (as `python -m datasets.prepare --data_dir`).
      name: 'h36m', 'mpii' or 'mpi_inf_3dhp'.
      splits: {split name: number of examples}.
      image_size: side of the stored images (the real shards use 384).
      seed: makes the content reproducible.
      ordered: store the examples in their written order (TFDS disable_shuffling),
        as the real builders do; False lets readers shuffle the files.
    Returns:
      the directory holding the dataset's version (for tfds.builder_from_directory).
    """
    rng = np.random.default_rng([seed, len(name)])
    split_examples = {
        split: [(i, fake_example(rng, name, i, image_size)) for i in range(count)]
        for split, count in splits.items()
    }
    builder = tfds.dataset_builders.store_as_tfds_dataset(
        name=name,
        version=VERSION,
        features=features(name, image_size),
        split_datasets=split_examples,
        data_dir=str(data_dir),
        disable_shuffling=ordered,
    )
    return Path(builder.data_dir)
