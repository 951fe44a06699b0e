"""Human3.6M annotations as one table, from the annotation h5 files or, when
there are none, from each video's matlab_meta.mat.

The table has the h5 files' columns (layout.ANNOT_FIELDS): one row per released
frame, joints already in our order, sorted by video and frame, duplicates
(e.g. from annotSampleTest.h5 and annotFullTest.h5 side by side) dropped.
"""

import logging
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from datasets import errors
from datasets.h36m import layout
from pose3d_jax import skeleton

FIX = "re-create it with the authors' GetH36M.py or remove it to read matlab_meta.mat instead"
META_FIX = "re-extract this video folder from the release"


def read_h5(path: Path) -> dict:
    """One annotation h5 (GetH36M.py's output) as a table."""
    try:
        with h5py.File(path, "r") as f:
            errors.require_fields(f, layout.ANNOT_FIELDS, path, FIX)
            table = {name: np.asarray(f[name]) for name in layout.ANNOT_FIELDS}
    except OSError as error:
        raise errors.DatasetError(f"{path} is not a readable HDF5 file ({error}); {FIX}") from None
    n = len(table["id"])
    shapes = {"joint_2d": (n, skeleton.NUM_JOINTS, 2), "joint_3d_mono": (n, skeleton.NUM_JOINTS, 3)}
    for name, shape in shapes.items():
        if table[name].shape != shape:
            raise errors.DatasetError(
                f"{path}: field '{name}' has shape {table[name].shape}, expected {shape}; {FIX}"
            )
    table["bbox"] = table["bbox"].reshape(n, -1)
    return table


def _load_mat(path: Path) -> dict:
    """A .mat file's variables; MATLAB v7.3 (HDF5) files are read with h5py."""
    try:
        return scipy.io.loadmat(path)
    except NotImplementedError:  # v7.3: HDF5 with MATLAB's axes reversed
        with h5py.File(path, "r") as f:
            return {k: np.asarray(v).T for k, v in f.items() if isinstance(v, h5py.Dataset)}
    except (ValueError, OSError, TypeError) as error:
        raise errors.DatasetError(
            f"{path} is not a readable .mat file ({error}); {META_FIX}"
        ) from None


def read_meta(path: Path, key: tuple[int, int, int, int]) -> dict:
    """The released frames of one video's matlab_meta.mat as table rows."""
    meta = _load_mat(path)
    errors.require_fields(meta, layout.META_FIELDS, path, META_FIX)
    num_images = int(np.asarray(meta["num_images"]).squeeze())
    joints = skeleton.NUM_H36M_JOINTS
    arrays = {}
    for name, rows in (("Y2d", joints * 2), ("Y3d_mono", joints * 3), ("bbox", 4)):
        array = np.asarray(meta[name], np.float64)
        if array.shape != (rows, num_images):
            raise errors.DatasetError(
                f"{path}: field '{name}' has shape {array.shape}, expected ({rows}, num_images="
                f"{num_images}); {META_FIX}"
            )
        arrays[name] = array
    filled = np.flatnonzero(np.any(arrays["Y3d_mono"] != 0, axis=0))
    order = list(skeleton.H36M_TO_MPII)
    table = {
        "id": filled + 1,
        "joint_2d": arrays["Y2d"][:, filled].T.reshape(-1, joints, 2)[:, order],
        "joint_3d_mono": arrays["Y3d_mono"][:, filled].T.reshape(-1, joints, 3)[:, order],
        "bbox": arrays["bbox"][:, filled].T,
    }
    for name, value in zip(layout.SEQUENCE_KEYS, key, strict=True):
        table[name] = np.full(len(filled), value)
    return table


def read_all_meta(images_dir: Path) -> list[dict]:
    """Tables of every video folder under images/ that has a matlab_meta.mat."""
    tables = []
    for folder in sorted(images_dir.iterdir()):
        key = layout.parse_folder(folder.name)
        if key is None or not folder.is_dir():
            continue
        meta = folder / layout.META_FILE
        errors.require_file(meta, f"video {folder.name}", META_FIX)
        tables.append(read_meta(meta, key))
    return tables


def _concat(tables: list[dict]) -> dict:
    table = {name: np.concatenate([t[name] for t in tables]) for name in layout.ANNOT_FIELDS}
    keys = np.stack([table[k] for k in (*layout.SEQUENCE_KEYS, "id")], axis=1).astype(np.int64)
    _, first = np.unique(keys, axis=0, return_index=True)  # sorted by video, then frame
    return {name: value[first] for name, value in table.items()}


def load(raw_dir: Path) -> dict:
    """The annotation table of the release at raw_dir (= RAW/h36m)."""
    h5_files = sorted((raw_dir / layout.ANNOT_DIR).glob("*.h5"))
    if h5_files:
        logging.info("h36m: reading annotations from %s", ", ".join(str(p) for p in h5_files))
        tables = [read_h5(p) for p in h5_files]
    else:
        images_dir = errors.require_dir(
            raw_dir / layout.IMAGES_DIR,
            "h36m images",
            "unpack the authors' preprocessed release (s_SS_act_AA_subact_BB_ca_CC folders) there",
        )
        logging.info("h36m: no %s/*.h5, reading matlab_meta.mat files", layout.ANNOT_DIR)
        tables = read_all_meta(images_dir)
    tables = [t for t in tables if len(t["id"])]
    if not tables:
        raise errors.DatasetError(
            f"h36m: no annotated frame under {raw_dir} (neither {layout.ANNOT_DIR}/*.h5 nor "
            f"{layout.IMAGES_DIR}/*/{layout.META_FILE}); compare the folder with datasets/README.md"
        )
    return _concat(tables)
