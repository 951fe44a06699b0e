"""Atomic file writers: each file appears whole under its name or not at all.

Everything is written to a temporary name beside the target and renamed, so an
interrupted generator never leaves a half-written JPEG, .mat or .h5 behind.
"""

import os
from pathlib import Path

import cv2
import h5py
import numpy as np
import scipy.io

JPEG_QUALITY = 90
MATLAB_73_HEADER = (
    b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by: datasets.synthetic HDF5 schema 1.00 ."
)
MATLAB_USERBLOCK = 512


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")


def _commit(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)


def write_jpeg(path: Path, image_bgr: np.ndarray) -> None:
    """A BGR image as a JPEG of quality ~90."""
    ok, data = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {path}")
    tmp = _temporary(path)
    tmp.write_bytes(data.tobytes())
    _commit(tmp, path)


def write_mat(path: Path, variables: dict) -> None:
    """A MATLAB 5 .mat file (what MATLAB's `save` writes by default)."""
    tmp = _temporary(path)
    scipy.io.savemat(tmp, variables, do_compression=False)
    _commit(tmp, path)


def write_h5(path: Path, datasets: dict, attrs: dict | None = None) -> None:
    """An HDF5 file with one dataset per key."""
    tmp = _temporary(path)
    with h5py.File(tmp, "w") as f:
        for name, value in datasets.items():
            f[name] = value
        for name, value in (attrs or {}).items():
            f.attrs[name] = value
    _commit(tmp, path)


def write_mat73(path: Path, datasets: dict, cells: dict | None = None) -> None:
    """A MATLAB v7.3 .mat file: HDF5 with MATLAB's 512-byte header and class tags.

    Arrays are stored as given, i.e. as h5py will read them back (MATLAB itself
    would see the axes reversed). Each entry of `cells` (name: list of arrays)
    becomes a MATLAB cell array as v7.3 stores one: a column of object
    references to datasets in the file's `#refs#` group.
    """
    tmp = _temporary(path)
    with h5py.File(tmp, "w", userblock_size=MATLAB_USERBLOCK) as f:
        for name, value in datasets.items():
            f[name] = np.asarray(value, np.float64)
            f[name].attrs["MATLAB_class"] = np.bytes_("double")
        refs = f.create_group("#refs#") if cells else None
        for name, values in (cells or {}).items():
            column = np.empty((1, len(values)), dtype=h5py.ref_dtype)
            for i, value in enumerate(values):
                item = refs.create_dataset(f"{name}_{i}", data=np.asarray(value, np.float64))
                item.attrs["MATLAB_class"] = np.bytes_("double")
                column[0, i] = item.ref
            f.create_dataset(name, data=column, dtype=h5py.ref_dtype)
            f[name].attrs["MATLAB_class"] = np.bytes_("cell")
    with open(tmp, "r+b") as raw:
        # 116 bytes of text, 8 of subsystem offset, version 0x0200, endian tag "IM".
        raw.write(MATLAB_73_HEADER.ljust(116)[:116] + bytes(8) + b"\x00\x02IM")
    _commit(tmp, path)
