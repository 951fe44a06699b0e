"""Calibration crops for int8: frames like the ones to run, cut as inference cuts them.

Each image gives one crop of the network's input size: around the person the trained
detector finds (the crops int8 will see), or the centred crop where it finds no one
or its file is absent. Crops are RGB in [0, 1], float32, what the engines take.
"""

from pathlib import Path

import numpy as np

from pose3d_jax.inference import crops as crops_lib
from pose3d_jax.inference import image_io
from pose3d_jax.inference.precision import PrecisionError

MIN_IMAGES = 8
MAX_IMAGES = 300


def _person_crop(image, detector):
    found = [] if detector is None else detector(image, max_people=1)
    if found:
        return crops_lib.person_crop(found[0])
    return crops_lib.centred_crop(image.shape[1], image.shape[0])


def calibration_images(source) -> list[Path]:
    """The image files of a folder (or a list of files); PrecisionError when too few."""
    if isinstance(source, (str, Path)) and not Path(source).is_dir():
        raise PrecisionError(
            f"the int8 calibration set '{source}' is not a folder; give a folder of at "
            f"least {MIN_IMAGES} frames like the ones to run."
        )
    paths = image_io.expand_inputs([source] if isinstance(source, (str, Path)) else source)
    if len(paths) < MIN_IMAGES:
        raise PrecisionError(
            f"the int8 calibration set '{source}' has {len(paths)} images; give a folder "
            f"of at least {MIN_IMAGES} frames like the ones to run (16 or more is better)."
        )
    return paths[:MAX_IMAGES]


def calibration_crops(source, res, detector=None) -> np.ndarray:
    """[N, res, res, 3] float32 crops of a folder, a list of image files, or an array
    of crops already cut (returned as float32)."""
    if isinstance(source, np.ndarray):
        return np.asarray(source, np.float32)
    out = []
    for path in calibration_images(source):
        image = image_io.load_image(path)
        crop, _ = crops_lib.crop_image(image, _person_crop(image, detector), res)
        out.append(crop.astype(np.float32) / 255.0)
    return np.stack(out)


def default_detector():
    """The trained person detector when its file is here, else None (centred crops)."""
    from pose3d_jax.detection import model_file

    if not model_file.available():
        return None
    from pose3d_jax.detection.detector import PersonDetector

    return PersonDetector()
