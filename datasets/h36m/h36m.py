"""Human3.6M (the authors' preprocessed release) -> TFDS shards of person crops.

Splits: train (subjects 1 5 6 7 8), test (9 11: every released frame) and
test_sample (the test frames of the authors' sample test, 1-based video frames
1, 201, 401, ...; SPEC 6). The 2D target and depth are the authors' (targets.py);
the release's 224 crop is the person box.
"""

import numpy as np

from datasets import common
from datasets.h36m import annotations, layout, targets
from pose3d_jax import geometry, skeleton

CROP_CENTER = (layout.CROP_SIZE / 2.0, layout.CROP_SIZE / 2.0)
CROP_SCALE = layout.CROP_SIZE / geometry.BOX_PIXELS_PER_SCALE


def split_rows(table: dict) -> dict[str, np.ndarray]:
    """Row indices of each split; splits without rows are left out."""
    subject = table["subject"]
    test = np.isin(subject, skeleton.H36M_TEST_SUBJECTS)
    rows = {
        "train": np.flatnonzero(np.isin(subject, skeleton.H36M_TRAIN_SUBJECTS)),
        "test": np.flatnonzero(test),
        "test_sample": np.flatnonzero(test & layout.is_sample_test_frame(table["id"])),
    }
    return {name: idx for name, idx in rows.items() if len(idx)}


def row_features(image_bgr: np.ndarray, table: dict, i: int) -> dict:
    """All features of row i of the table."""
    joints_3d = table["joint_3d_mono"][i]
    xy, depth, visible = targets.h36m_targets(table["joint_2d"][i], joints_3d, layout.CROP_SIZE)
    features = common.make_example(image_bgr, CROP_CENTER, CROP_SCALE, xy, visible, depth)
    features["joints_3d_mm"] = joints_3d.astype(np.float32)
    features["bbox"] = table["bbox"][i].astype(np.float32)
    for name in layout.SEQUENCE_KEYS:
        features[name] = int(table[name][i])
    features["frame"] = int(table["id"][i])
    return features


class H36m(common.PoseBuilder):
    """Human3.6M person crops with 3D joints and the SPEC-3 depth target."""

    name = "h36m"
    DESCRIPTION = __doc__
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Unpack the authors' preprocessed Human3.6M (pose-hg-3d README) into the manual dir:
      images/s_SS_act_AA_subact_BB_ca_CC/s_..._NNNNNN.jpg and matlab_meta.mat per video,
      optionally annot/*.h5 made by GetH36M.py (used instead of matlab_meta.mat when present).
    """

    def _extra_features(self) -> dict:
        features = {
            "joints_3d_mm": common.float_feature((skeleton.NUM_JOINTS, 3), "camera frame, mm"),
            "bbox": common.float_feature((4,), "x1 y1 x2 y2 of the crop in the video frame"),
            "frame": common.int_feature("1-based frame number in the video"),
        }
        for name in layout.SEQUENCE_KEYS:
            features[name] = common.int_feature(f"Human3.6M {name} id")
        return features

    @classmethod
    def load(cls, raw):
        return annotations.load(raw)

    def plan(self, raw, table):
        rows = split_rows(table)
        if "train" in rows:
            rows["train"] = rows["train"][self.train_order(len(rows["train"]))]
        return {name: idx.tolist() for name, idx in rows.items()}

    @classmethod
    def example(cls, raw, table, i, images):
        folder = layout.folder_name(*(int(table[k][i]) for k in layout.SEQUENCE_KEYS))
        image = images.read(
            raw / layout.IMAGES_DIR / folder / layout.image_name(folder, int(table["id"][i]))
        )
        return None if image is None else row_features(image, table, i)
