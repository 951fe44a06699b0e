"""The MPI-INF-3DHP test set (TS1..TS6) -> TFDS shards of person crops.

One split, test: the valid frames of every sequence present. The person box is
the given bb_crop (centre = box centre, scale = longer side / 200); the 3D
joints are univ_annot3 (mm) in our order. No depth target (has_depth False).
"""

import logging
import math
from pathlib import Path

import h5py
import numpy as np

from datasets import common, errors
from datasets.mpi_inf_3dhp import layout
from pose3d_jax import geometry, skeleton

FIX = "use annot_data.mat of the official test-set release (datasets/README.md lists the fields)"
NUM_SOURCE_JOINTS = skeleton.NUM_MPI_INF_3DHP_JOINTS


def frames_first(array, n: int, tail: tuple, path: Path, name: str) -> np.ndarray:
    """A per-frame array as [n, *tail], whether h5py shows it frames-first
    ([N, 1, 17, 2]) or in MATLAB's order ([2, 17, 1, N] or [17, 2, N])."""
    a = np.asarray(array, np.float64)
    if a.size != n * math.prod(tail):
        raise errors.DatasetError(
            f"{path}: field '{name}' has shape {a.shape}, expected {n} frames of {tail}; {FIX}"
        )
    if a.shape[0] != n and a.shape[-1] == n:
        a = np.moveaxis(a, -1, 0)
    rest = [d for d in a.shape[1:] if d != 1]
    if len(tail) == 2 and tail[0] != tail[1] and rest == list(tail[::-1]):
        return a.reshape(n, *tail[::-1]).swapaxes(1, 2)
    return a.reshape(n, *tail)


def read_sequence(path: Path) -> dict:
    """The valid frames of one TS*/annot_data.mat, joints in our order."""
    try:
        with h5py.File(path, "r") as f:
            errors.require_fields(f, layout.REQUIRED, path, FIX)
            raw = {name: np.asarray(f[name]) for name in layout.REQUIRED}
    except OSError as error:
        raise errors.DatasetError(
            f"{path} is not a readable MATLAB v7.3 file ({error}); {FIX}"
        ) from None
    n = raw["valid_frame"].size
    valid = frames_first(raw["valid_frame"], n, (), path, "valid_frame") > 0.5
    order = list(skeleton.MPI_INF_3DHP_TO_MPII)
    table = {
        "annot2": frames_first(raw["annot2"], n, (NUM_SOURCE_JOINTS, 2), path, "annot2")[:, order],
        "univ_annot3": frames_first(
            raw["univ_annot3"], n, (NUM_SOURCE_JOINTS, 3), path, "univ_annot3"
        )[:, order],
        "activity": frames_first(raw["activity_annotation"], n, (), path, "activity_annotation"),
        "bb_crop": frames_first(raw["bb_crop"], n, (4,), path, "bb_crop"),
        "frame": np.arange(1, n + 1),
    }
    return {name: value[valid] for name, value in table.items()}


def box(bb_crop: np.ndarray) -> tuple[np.ndarray, float]:
    """(centre, scale) of a person box x1 y1 x2 y2: the longer side is 200 * scale."""
    lo, hi = bb_crop[:2], bb_crop[2:]
    return (lo + hi) / 2.0, float(np.max(hi - lo)) / geometry.BOX_PIXELS_PER_SCALE


def example(image_bgr: np.ndarray, table: dict, i: int, sequence: int) -> dict:
    """All features of valid frame row i of one sequence."""
    center, scale = box(table["bb_crop"][i])
    visible = np.ones(skeleton.NUM_JOINTS, bool)
    features = common.make_example(image_bgr, center, scale, table["annot2"][i], visible)
    features["joints_3d_mm"] = table["univ_annot3"][i].astype(np.float32)
    features["sequence"] = sequence
    features["activity"] = int(table["activity"][i])
    features["frame"] = int(table["frame"][i])
    return features


class MpiInf3dhp(common.PoseBuilder):
    """MPI-INF-3DHP test frames with their universal-skeleton 3D joints."""

    name = "mpi_inf_3dhp"
    DESCRIPTION = __doc__
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Unpack mpi_inf_3dhp_test_set into the manual dir: TS1..TS6, each with annot_data.mat
    and imageSequence/img_NNNNNN.jpg.
    """

    def _extra_features(self) -> dict:
        return {
            "joints_3d_mm": common.float_feature((skeleton.NUM_JOINTS, 3), "univ_annot3, mm"),
            "sequence": common.int_feature("test sequence TS1..TS6"),
            "activity": common.int_feature("activity_annotation"),
            "frame": common.int_feature("1-based frame number (img_NNNNNN.jpg)"),
        }

    def _split_generators(self, dl_manager):
        raw = self.raw_dir(dl_manager)
        present = [s for s in layout.SEQUENCES if (raw / layout.sequence_dir(s)).is_dir()]
        if not present:
            raise errors.DatasetError(
                f"mpi_inf_3dhp: no TS1..TS{layout.NUM_SEQUENCES} folder under {raw}; "
                "unpack the test-set release there"
            )
        missing = sorted(set(layout.SEQUENCES) - set(present))
        if missing:
            logging.warning("mpi_inf_3dhp: sequences %s are absent, building without them", missing)
        tables = {}
        for seq in present:
            path = raw / layout.sequence_dir(seq) / layout.ANNOT_FILE
            errors.require_file(path, f"mpi_inf_3dhp TS{seq}", FIX)
            tables[seq] = read_sequence(path)
        return {"test": self._generate_examples(raw, tables)}

    def _generate_examples(self, raw, tables):
        bad = errors.BadImages(self.skip_bad_images, self.name)
        written = 0
        for seq, table in tables.items():
            folder = raw / layout.sequence_dir(seq) / layout.IMAGES_DIR
            for i, frame in enumerate(table["frame"]):
                image = bad.read(folder / layout.image_name(int(frame) - 1))
                if image is None:
                    continue
                written += 1
                yield f"{layout.sequence_dir(seq)}_{int(frame):06d}", example(image, table, i, seq)
        bad.report("test", written)
