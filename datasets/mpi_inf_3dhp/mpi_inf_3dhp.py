"""The MPI-INF-3DHP test set (TS1..TS6) -> TFDS shards of person crops.

One split, test: the valid frames of every sequence present. The release holds
no person box (its bb_crop is something else), so the box is built from the
frame's 2D joints as other loaders do: the 17 annot2 joints' extent, centred,
side = 1.2 x its longer side (layout.BOX_FACTOR). The 3D joints are univ_annot3
(mm) in our order. No depth target (has_depth False).
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


def _field(f: h5py.File, name: str, path: Path) -> np.ndarray:
    """A numeric array field of the file (not a group or MATLAB cell references)."""
    item = f[name]
    if not isinstance(item, h5py.Dataset) or item.dtype.kind not in "fiub":
        kind = "a group" if not isinstance(item, h5py.Dataset) else f"of dtype {item.dtype}"
        raise errors.DatasetError(f"{path}: field '{name}' is {kind}, expected numbers; {FIX}")
    return np.asarray(item)


def read_sequence(path: Path) -> dict:
    """The valid frames of one TS*/annot_data.mat, joints in our order (bb_crop and
    the #refs# group are not read)."""
    try:
        with h5py.File(path, "r") as f:
            errors.require_fields(f, layout.REQUIRED, path, FIX)
            raw = {name: _field(f, name, path) for name in layout.REQUIRED}
    except OSError as error:
        raise errors.DatasetError(
            f"{path} is not a readable MATLAB v7.3 file ({error}); {FIX}"
        ) from None
    n = raw["valid_frame"].size
    valid = frames_first(raw["valid_frame"], n, (), path, "valid_frame") != 0
    annot2 = frames_first(raw["annot2"], n, (NUM_SOURCE_JOINTS, 2), path, "annot2")[valid]
    if not np.all(np.isfinite(annot2)):
        raise errors.DatasetError(f"{path}: field 'annot2' is not finite in a valid frame; {FIX}")
    order = list(skeleton.MPI_INF_3DHP_TO_MPII)
    univ = frames_first(raw["univ_annot3"], n, (NUM_SOURCE_JOINTS, 3), path, "univ_annot3")
    activity = frames_first(raw["activity_annotation"], n, (), path, "activity_annotation")
    return {
        "box": np.array([box(a) for a in annot2]).reshape(-1, 3),
        "annot2": annot2[:, order],
        "univ_annot3": univ[valid][:, order],
        "activity": activity[valid],
        "frame": np.arange(1, n + 1)[valid],
    }


def box(annot2: np.ndarray) -> np.ndarray:
    """(centre x, centre y, scale) of the person box of one frame's 17 joints:
    the joints' extent, centred, side = BOX_FACTOR x the longer side = 200 x scale."""
    lo, hi = annot2.min(axis=0), annot2.max(axis=0)
    side = layout.BOX_FACTOR * float(np.max(hi - lo))
    return np.array([*(lo + hi) / 2.0, side / geometry.BOX_PIXELS_PER_SCALE])


def annotation_file(folder: Path, sequence: int) -> Path:
    """annot_data-corr.mat when present, else annot_data.mat; one clear error if neither."""
    for name in layout.ANNOT_FILES:
        if (folder / name).is_file():
            return folder / name
    names = " or ".join(layout.ANNOT_FILES)
    raise errors.DatasetError(f"mpi_inf_3dhp TS{sequence}: {folder} holds no {names}; {FIX}")


def row_features(image_bgr: np.ndarray, table: dict, i: int, sequence: int) -> dict:
    """All features of valid frame row i of one sequence."""
    center, scale = table["box"][i, :2], table["box"][i, 2]
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

    @classmethod
    def load(cls, raw):
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
            path = annotation_file(raw / layout.sequence_dir(seq), seq)
            logging.info("mpi_inf_3dhp: TS%d from %s", seq, path.name)
            tables[seq] = read_sequence(path)
        return tables

    def plan(self, raw, tables):
        return {"test": [(seq, i) for seq, t in tables.items() for i in range(len(t["frame"]))]}

    @classmethod
    def example(cls, raw, tables, row, images):
        seq, i = row
        table = tables[seq]
        folder = raw / layout.sequence_dir(seq) / layout.IMAGES_DIR
        image = images.read(folder / layout.image_name(int(table["frame"][i]) - 1))
        return None if image is None else row_features(image, table, i, seq)
