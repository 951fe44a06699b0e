"""MPII Human Pose (pose-hg-train's annot.h5 / valid.h5) -> TFDS shards of person crops.

Splits: train (istrain == 1 and not in valid.h5, matched by (index, person)) and
validation (the persons of valid.h5 in its order). A raw folder holding only
valid.h5 gives the validation split alone. The crop box follows SPEC 3
(c_y += 15 s, s *= 1.25); MPII has no depth.
"""

import logging
from pathlib import Path

import h5py
import numpy as np
import tensorflow_datasets as tfds

from datasets import common, errors
from datasets.mpii import layout
from pose3d_jax import skeleton

FIX = "use the annot.h5 / valid.h5 of pose-hg-train (datasets/README.md lists the fields)"


def read_table(path: Path, fields) -> dict:
    """The columns `fields` of an MPII annotation file."""
    try:
        with h5py.File(path, "r") as f:
            errors.require_fields(f, fields, path, FIX)
            table = {name: np.asarray(f[name]) for name in fields}
    except OSError as error:
        raise errors.DatasetError(f"{path} is not a readable HDF5 file ({error}); {FIX}") from None
    n = len(table["index"])
    if table["part"].shape != (n, skeleton.NUM_JOINTS, 2):
        raise errors.DatasetError(
            f"{path}: field 'part' has shape {table['part'].shape}, expected ({n}, 16, 2); {FIX}"
        )
    table["center"] = table["center"].reshape(n, 2)
    table["imgname"] = layout.imgnames(table["imgname"], path, FIX)
    return table


def _pairs(table: dict) -> list[tuple[int, int]]:
    return list(
        zip(table["index"].astype(int).tolist(), table["person"].astype(int).tolist(), strict=True)
    )


def train_rows(annot: dict, valid: dict | None) -> np.ndarray:
    """Rows of annot.h5 for training: istrain and not a validation person."""
    taken = set(_pairs(valid)) if valid is not None else set()
    istrain = np.asarray(annot["istrain"]).reshape(-1) == 1
    return np.array(
        [i for i, pair in enumerate(_pairs(annot)) if istrain[i] and pair not in taken], int
    )


def load_splits(raw: Path) -> dict[str, tuple[dict, np.ndarray]]:
    """{split: (table, rows)} from whichever of annot.h5 and valid.h5 exist."""
    annot_path, valid_path = raw / layout.ANNOT_FILE, raw / layout.VALID_FILE
    if not annot_path.is_file() and not valid_path.is_file():
        raise errors.DatasetError(
            f"mpii: neither {annot_path} nor {valid_path} exists; put pose-hg-train's "
            f"annot.h5 and/or valid.h5 there, images under {raw / layout.IMAGES_DIR}"
        )
    valid = read_table(valid_path, layout.REQUIRED_VALID) if valid_path.is_file() else None
    splits = {}
    if annot_path.is_file():
        annot = read_table(annot_path, layout.REQUIRED_ANNOT)
        splits["train"] = (annot, train_rows(annot, valid))
    if valid is None:
        logging.warning("mpii: no %s, so no validation split", valid_path)
    else:
        splits["validation"] = (valid, np.arange(len(valid["index"])))
    return {name: split for name, split in splits.items() if len(split[1])}


def row_features(image_bgr: np.ndarray, table: dict, i: int) -> dict:
    """All features of row i of an annotation table."""
    part = table["part"][i]
    center, scale = layout.adjusted_box(table["center"][i], table["scale"][i])
    features = common.make_example(image_bgr, center, scale, part, layout.annotated(part))
    features["center_orig"] = table["center"][i].astype(np.float32)
    features["scale_orig"] = np.float32(table["scale"][i])
    features["normalize"] = np.float32(table["normalize"][i])
    features["imgname"] = table["imgname"][i]
    features["index"] = int(table["index"][i])
    features["person"] = int(table["person"][i])
    features["joints_2d_orig"] = part.astype(np.float32)
    return features


class Mpii(common.PoseBuilder):
    """MPII persons: 2D joints only, with the head size for PCKh."""

    name = "mpii"
    DESCRIPTION = __doc__
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Put the MPII images (mpii_human_pose_v1.tar.gz) under images/ of the manual dir and
    pose-hg-train's annot.h5 and valid.h5 beside it (valid.h5 alone gives the validation split).
    """

    def _extra_features(self) -> dict:
        scalar = lambda doc: tfds.features.Scalar(dtype=np.float32, doc=doc)
        return {
            "center_orig": common.float_feature((2,), "annotated centre, original pixels"),
            "scale_orig": scalar("annotated scale (person height / 200)"),
            "normalize": scalar("head size for PCKh, original pixels"),
            "imgname": tfds.features.Text(doc="image file name"),
            "index": common.int_feature("annotation index of the image"),
            "person": common.int_feature("person number in the image"),
            "joints_2d_orig": common.float_feature(
                (skeleton.NUM_JOINTS, 2), "annotated joints, original pixels, 0 = missing"
            ),
        }

    @classmethod
    def load(cls, raw):
        splits = load_splits(raw)
        if not splits:
            raise errors.DatasetError(
                f"mpii: the annotation files under {raw} hold no person; {FIX}"
            )
        return splits

    def plan(self, raw, splits):
        plan = {name: [(name, int(i)) for i in rows] for name, (_, rows) in splits.items()}
        if "train" in plan:
            plan["train"] = [plan["train"][i] for i in self.train_order(len(plan["train"]))]
        return plan

    @classmethod
    def example(cls, raw, splits, row, images):
        split, i = row
        table = splits[split][0]
        image = images.read(raw / layout.IMAGES_DIR / table["imgname"][i])
        return None if image is None else row_features(image, table, i)
