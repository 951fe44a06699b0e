"""Facts of the MPII annotation files (pose-hg-train's annot.h5 and valid.h5),
shared by the builder and the synthetic generator.

The dtypes and shapes are those of the real validation file
(../shared/data/mpii_valid.h5): every number is float64, names are 13-byte
strings ('%09d.jpg'), and part is [N, 16, 2] with 0 for a joint not annotated.
"""

import numpy as np

ANNOT_FILE = "annot.h5"
VALID_FILE = "valid.h5"
IMAGES_DIR = "images"
IMGNAME_DTYPE = "S13"
FILE_ATTRS = {"name": "mpii"}
# Datasets of valid.h5, in file order; annot.h5 adds `multi` and `istrain`.
VALID_FIELDS = (
    "center",
    "imgname",
    "index",
    "normalize",
    "part",
    "person",
    "scale",
    "torsoangle",
    "visible",
)
ANNOT_FIELDS = VALID_FIELDS + ("multi", "istrain")
# What the builder needs of each file.
REQUIRED_VALID = ("center", "imgname", "index", "normalize", "part", "person", "scale")
REQUIRED_ANNOT = REQUIRED_VALID + ("istrain",)
# SPEC 3: the crop box of an MPII person is moved down and enlarged.
CENTER_SHIFT_Y = 15.0  # c_y += 15 s
SCALE_FACTOR = 1.25  # s *= 1.25


def adjusted_box(center, scale):
    """The person box the network sees (SPEC 3): centre moved down, box enlarged."""
    center = np.array(center, np.float64)
    center[..., 1] += CENTER_SHIFT_Y * np.asarray(scale)
    return center, np.asarray(scale, np.float64) * SCALE_FACTOR


def annotated(part):
    """A joint is annotated unless both its coordinates are 0."""
    return np.any(np.asarray(part) != 0, axis=-1)
